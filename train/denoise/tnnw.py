"""Writer (and reader, for checks) of Tessera's network weight files (.tnnw).

Layout, little-endian (the C reader is src/engine/nn/tsr-nn-weights.c):
  magic "TSRNNW\\r\\n" | u32 version (1) | u32 n_tensors | u32 arch_len | arch (UTF-8)
  n_tensors x { u32 name_len | name | u32 dtype (0 float32, 1 float16) | u32 ndim |
                u32 dims[ndim] | u64 offset | u64 nbytes | u32 crc32 of the data }
  u32 crc32 of every header byte before it
  tensor data, each at its offset (64-byte aligned)
"""
import struct
import zlib

import numpy as np

MAGIC = b"TSRNNW\r\n"


def write(path, arch, tensors, fp16=False):
    names = list(tensors.keys())
    arrs = [np.ascontiguousarray(tensors[n], dtype=np.float16 if fp16 else np.float32) for n in names]
    ab = arch.encode()
    hlen = 8 + 12 + len(ab)
    for n, a in zip(names, arrs):
        hlen += 4 + len(n.encode()) + 8 + 4 * a.ndim + 8 + 8 + 4
    hlen += 4
    off = (hlen + 63) // 64 * 64
    h = bytearray(MAGIC + struct.pack("<III", 1, len(names), len(ab)) + ab)
    offsets = []
    for n, a in zip(names, arrs):
        nb = n.encode()
        data = a.tobytes()
        h += struct.pack("<I", len(nb)) + nb + struct.pack("<II", 1 if fp16 else 0, a.ndim)
        h += struct.pack("<%dI" % a.ndim, *a.shape)
        h += struct.pack("<QQI", off, len(data), zlib.crc32(data) & 0xffffffff)
        offsets.append(off)
        off = (off + len(data) + 63) // 64 * 64
    h += struct.pack("<I", zlib.crc32(bytes(h)) & 0xffffffff)
    assert len(h) == hlen
    with open(path + ".tmp", "wb") as f:
        f.write(h)
        for o, a in zip(offsets, arrs):
            f.write(b"\0" * (o - f.tell()))
            f.write(a.tobytes())
    import os
    os.replace(path + ".tmp", path)


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    assert raw[:8] == MAGIC
    ver, n, al = struct.unpack_from("<III", raw, 8)
    p = 20
    arch = raw[p:p + al].decode()
    p += al
    out = {}
    for _ in range(n):
        (nl,) = struct.unpack_from("<I", raw, p)
        p += 4
        name = raw[p:p + nl].decode()
        p += nl
        dt, nd = struct.unpack_from("<II", raw, p)
        p += 8
        dims = struct.unpack_from("<%dI" % nd, raw, p)
        p += 4 * nd
        off, nb, crc = struct.unpack_from("<QQI", raw, p)
        p += 20
        out[name] = np.frombuffer(raw[off:off + nb], dtype=np.float16 if dt else np.float32).reshape(dims)
    return arch, out
