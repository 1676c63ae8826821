#!/usr/bin/env python3
"""tools/make-fuzz-seeds.py — write the seed corpora of the image, SER and video fuzz
targets (tests/fuzz/corpus-{image,ser,video,calib,xisf,raw}/). Run once; the seeds are committed
(`tools/make-fuzz-seeds.py xisf raw` writes only the corpora named). Only the
standard library is used, plus ImageMagick's `convert` for the JPEG seeds when present.

Seeds are small (a few hundred bytes to a few kB) so the fuzzer mutates every structure
quickly: PNG gray/RGB 8/16-bit, TIFF baseline gray/RGB 8/16/float, JPEG gray/RGB, SER
mono/Bayer/RGB/BGR at 8 and 16 bit with and without the timestamp trailer, Y4M mono and
4:2:0 (a container libavformat probes without an encoder), calibration masters (FITS, first
byte: the kind). `make-fuzz-seeds.py calib` rewrites only the named corpora."""
import os, struct, subprocess, sys, zlib

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fuzz")
only = set(sys.argv[1:])  # corpus names to (re)write; none named: all

def out(corpus, name, data):
    if only and corpus not in only:
        return
    d = os.path.join(root, "corpus-" + corpus)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def pattern(w, h, c, maxv):
    return [[[ (x * 37 + y * 11 + k * 53) % (maxv + 1) for k in range(c)] for x in range(w)] for y in range(h)]

# PNG
def png(w, h, c, depth):
    ctype = {1: 0, 3: 2}[c]
    px = pattern(w, h, c, (1 << depth) - 1)
    raw = b""
    for row in px:
        raw += b"\0"
        for p in row:
            for v in p:
                raw += struct.pack(">B" if depth == 8 else ">H", v)
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

for c in (1, 3):
    for d in (8, 16):
        out("image", f"png-{c}c-{d}bit.png", png(9, 7, c, d))

# TIFF (baseline, little endian, one strip, uncompressed)
def tiff(w, h, c, depth, fmt):
    px = pattern(w, h, c, 255 if depth == 8 else 65535)
    data = b""
    for row in px:
        for p in row:
            for v in p:
                if fmt == 3:
                    data += struct.pack("<f", v / 255.0)
                elif depth == 8:
                    data += struct.pack("<B", v)
                else:
                    data += struct.pack("<H", v)
    n_entries = 10
    ifd_off = 8
    extra_off = ifd_off + 2 + 12 * n_entries + 4       # BitsPerSample array for RGB
    data_off = extra_off + (2 * c if c > 1 else 0)
    bps = (258, 3, c, depth if c == 1 else extra_off)
    entries = [(256, 3, 1, w), (257, 3, 1, h), bps, (259, 3, 1, 1),
               (262, 3, 1, 1 if c == 1 else 2), (273, 4, 1, data_off), (277, 3, 1, c),
               (278, 3, 1, h), (279, 4, 1, len(data)), (339, 3, 1, fmt)]
    ifd = struct.pack("<H", len(entries))
    for tag, typ, cnt, val in entries:
        if typ == 3 and cnt == 1:
            ifd += struct.pack("<HHIHH", tag, typ, cnt, val, 0)
        else:
            ifd += struct.pack("<HHII", tag, typ, cnt, val)
    ifd += struct.pack("<I", 0)
    extra = b"".join(struct.pack("<H", depth) for _ in range(c)) if c > 1 else b""
    return b"II*\0" + struct.pack("<I", ifd_off) + ifd + extra + data

out("image", "tiff-1c-8bit.tif", tiff(9, 7, 1, 8, 1))
out("image", "tiff-1c-16bit.tif", tiff(9, 7, 1, 16, 1))
out("image", "tiff-3c-8bit.tif", tiff(9, 7, 3, 8, 1))
out("image", "tiff-1c-float.tif", tiff(9, 7, 1, 32, 3))

# JPEG through ImageMagick when it is there (the seeds are committed, so this runs once)
for c, name in ((1, "jpeg-gray.jpg"), (3, "jpeg-rgb.jpg")):
    src = os.path.join(root, "corpus-image", f"png-{c}c-8bit.png")
    try:
        jpg = subprocess.run(["convert", src, "-quality", "90", "jpg:-"], capture_output=True, check=True).stdout
        out("image", name, jpg)
    except (OSError, subprocess.CalledProcessError):
        print("convert not found: no JPEG seeds", file=sys.stderr)

# SER
def ser(w, h, color, depth, n, stamps, little=1):
    planes = 3 if color in (100, 101) else 1
    hdr = b"LUCAM-RECORDER" + struct.pack("<iiiiiii", 0, color, little, w, h, depth, n)
    hdr += b"Tessera fuzz".ljust(40, b"\0") + b"seed".ljust(40, b"\0") + b"none".ljust(40, b"\0")
    hdr += struct.pack("<qq", 638000000000000000, 638000000000000000)
    assert len(hdr) == 178
    body = b""
    for i in range(n):
        for y in range(h):
            for x in range(w):
                for k in range(planes):
                    v = (x * 7 + y * 13 + k * 29 + i * 5) % (1 << depth)
                    if depth <= 8:
                        body += struct.pack("<B", v)
                    else:
                        body += struct.pack("<H" if little else ">H", v)
    trailer = b"".join(struct.pack("<q", 638000000000000000 + i * 200000) for i in range(n)) if stamps else b""
    return hdr + body + trailer

out("ser", "mono-8bit.ser", ser(8, 6, 0, 8, 3, True))
out("ser", "mono-16bit-be.ser", ser(8, 6, 0, 16, 2, False, little=0))
out("ser", "mono-12bit.ser", ser(8, 6, 0, 12, 2, True))
out("ser", "bayer-rggb-8bit.ser", ser(8, 6, 8, 8, 2, True))
out("ser", "bayer-gbrg-16bit.ser", ser(8, 6, 10, 16, 2, False))
out("ser", "rgb-8bit.ser", ser(6, 4, 100, 8, 2, True))
out("ser", "bgr-16bit.ser", ser(6, 4, 101, 16, 2, False))

# Y4M (libavformat's yuv4mpegpipe demuxer and the rawvideo decoder: no encoder needed)
def y4m(w, h, n, chroma):
    hdr = f"YUV4MPEG2 W{w} H{h} F25:1 Ip A1:1 C{chroma}\n".encode()
    body = b""
    for i in range(n):
        bpp = 2 if chroma.endswith("16") else 1
        body += b"FRAME\n" + bytes((x * 9 + y * 5 + i * 3 + b) % 256 for y in range(h) for x in range(w) for b in range(bpp))
        if chroma != "mono":
            body += bytes(128 for _ in range(2 * ((w + 1) // 2) * ((h + 1) // 2)))
    return hdr + body

out("video", "mono.y4m", y4m(8, 6, 3, "mono"))
out("video", "yuv420.y4m", y4m(8, 6, 2, "420jpeg"))
out("video", "mono16.y4m", y4m(8, 6, 2, "mono16"))


# XISF (issue #18): uncompressed, zlib, zlib+sh, lz4 (literal-only blocks, encoded here: the
# standard library has no LZ4), inline base64, RGB normal storage, FITS keywords, properties,
# a CFA and a sha1 checksum
import base64, hashlib

def lz4_literals(b):
    """An LZ4 block holding b as one literal run (valid for any length)."""
    n = len(b)
    if n < 15:
        return bytes([n << 4]) + b
    ext, r = b"", n - 15
    while r >= 255:
        ext += b"\xff"
        r -= 255
    return bytes([0xf0]) + ext + bytes([r]) + b

def shuffle(b, item):
    n = len(b) // item
    return b"".join(bytes(b[i * item + j] for i in range(n)) for j in range(item)) + b[n * item:]

def xisf(w, h, c, fmt, codec=None, sh=False, normal=False, inline=False, checksum=False, props=False):
    code, size = {"UInt8": ("<B", 1), "UInt16": ("<H", 2), "UInt32": ("<I", 4), "Float32": ("<f", 4),
                  "Float64": ("<d", 8)}[fmt]
    px = pattern(w, h, c, 255)
    vals = []
    if normal:
        for row in px:
            for p in row:
                vals += p
    else:
        for k in range(c):
            for row in px:
                for p in row:
                    vals.append(p[k])
    raw = b"".join(struct.pack(code, v / 255.0 if fmt.startswith("Float") else v) for v in vals)
    attrs = ""
    block = raw
    if codec:
        data = shuffle(raw, size) if sh else raw
        block = zlib.compress(data) if codec == "zlib" else lz4_literals(data)
        attrs += f' compression="{codec}{"+sh" if sh else ""}:{len(raw)}{":%d" % size if sh else ""}"'
    if checksum:
        attrs += f' checksum="sha1:{hashlib.sha1(block).hexdigest()}"'
    if normal:
        attrs += ' pixelStorage="Normal"'
    pos = 1024
    loc = "inline:base64" if inline else f"attachment:{pos}:{len(block)}"
    body = base64.b64encode(block).decode() if inline else ""
    meta = ""
    if props:
        meta = ('<Property id="Instrument:ExposureTime" type="Float32" value="30"/>'
                '<Property id="Observation:Time:Start" type="TimePoint" value="2025-03-01T22:15:30Z"/>'
                '<ColorFilterArray pattern="RGGB" width="2" height="2"/>')
    else:
        meta = ('<FITSKeyword name="EXPTIME" value="30." comment="s"/>'
                '<FITSKeyword name="BAYERPAT" value="\'GRBG\'" comment=""/>'
                '<FITSKeyword name="DATE-OBS" value="\'2025-03-01T22:15:30\'" comment=""/>')
    if c == 3:
        meta = '<FITSKeyword name="EXPTIME" value="30." comment="s"/>'
    xml = ('<?xml version="1.0" encoding="UTF-8"?><xisf version="1.0" xmlns="http://www.pixinsight.com/xisf">'
           f'<Image geometry="{w}:{h}:{c}" sampleFormat="{fmt}" colorSpace="{"RGB" if c == 3 else "Gray"}" '
           f'location="{loc}"{attrs} imageType="Light">{body}{meta}</Image></xisf>').encode()
    head = b"XISF0100" + struct.pack("<II", len(xml), 0) + xml
    if inline:
        return head
    assert len(head) <= pos
    return head + b"\0" * (pos - len(head)) + block

out("xisf", "u16-plain.xisf", xisf(8, 6, 1, "UInt16"))
out("xisf", "u8-props-checksum.xisf", xisf(8, 6, 1, "UInt8", props=True, checksum=True))
out("xisf", "f32-rgb-normal.xisf", xisf(5, 4, 3, "Float32", normal=True))
out("xisf", "u16-zlib.xisf", xisf(8, 6, 1, "UInt16", codec="zlib"))
out("xisf", "f32-zlib-sh.xisf", xisf(8, 6, 1, "Float32", codec="zlib", sh=True))
out("xisf", "u16-lz4.xisf", xisf(8, 6, 1, "UInt16", codec="lz4"))
out("xisf", "u32-lz4hc-sh-rgb.xisf", xisf(5, 4, 3, "UInt32", codec="lz4hc", sh=True))
out("xisf", "f64-inline.xisf", xisf(4, 4, 1, "Float64", inline=True))

# Camera raw and TIFF frames (issue #18): a minimal DNG (16-bit CFA, per-site black level,
# ExposureTime in IFD 0) and a CFA TIFF with FITS cards in its ImageDescription
def tiff_ifd(entries, pixels):
    """Little-endian TIFF with one IFD; entries: (tag, type, values); pixels: the strip."""
    fmt = {1: "B", 2: "s", 3: "H", 4: "I", 5: "II", 11: "f", 12: "d"}
    tsize = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 11: 4, 12: 8}
    entries = sorted(entries + [(273, 4, [0]), (279, 4, [len(pixels)])])
    n = len(entries)
    extra_off = 8 + 2 + 12 * n + 4
    extra = b""
    packed = []
    for tag, typ, vals in entries:
        if typ == 2:
            data, count = vals.encode() + b"\0", len(vals) + 1
        elif typ == 5:
            data = b"".join(struct.pack("<II", a, b) for a, b in vals)
            count = len(vals)
        else:
            data = b"".join(struct.pack("<" + fmt[typ], v) for v in vals)
            count = len(vals)
        packed.append([tag, typ, count, data])
    data_off = extra_off + sum(len(d) + (len(d) & 1) for _, _, _, d in packed if len(d) > 4)
    ifd = struct.pack("<H", n)
    for e in packed:
        tag, typ, count, data = e
        if tag == 273:
            data = struct.pack("<I", data_off)
        if len(data) <= 4:
            ifd += struct.pack("<HHI", tag, typ, count) + data + b"\0" * (4 - len(data))
        else:
            ifd += struct.pack("<HHII", tag, typ, count, extra_off + len(extra))
            extra += data + (b"\0" if len(data) & 1 else b"")
    return b"II*\0" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + extra + pixels

def cfa_pixels(w, h, bits):
    px = pattern(w, h, 1, (1 << bits) - 1)
    return b"".join(struct.pack("<H" if bits == 16 else "<B", p[0]) for row in px for p in row)

w, h = 32, 24  # LibRaw refuses sensors below 22 pixels
dng = [(254, 4, [0]), (256, 3, [w]), (257, 3, [h]), (258, 3, [16]), (259, 3, [1]), (262, 3, [32803]),
       (271, 2, "Tessera"), (272, 2, "Seed"), (277, 3, [1]), (278, 3, [h]), (284, 3, [1]),
       (306, 2, "2025:03:01 22:15:30"), (33421, 3, [2, 2]), (33422, 1, [0, 1, 1, 2]),
       (33434, 5, [(1, 8)]), (50706, 1, [1, 4, 0, 0]), (50708, 2, "Tessera Seed"),
       (50713, 3, [2, 2]), (50714, 4, [512, 520, 530, 540]), (50717, 4, [65535]),
       (50721, 11, [1, 0, 0, 0, 1, 0, 0, 0, 1]), (50778, 3, [21])]
out("raw", "dng-rggb.dng", tiff_ifd(dng, cfa_pixels(w, h, 16)))
cfa_tif = [(256, 3, [w]), (257, 3, [h]), (258, 3, [16]), (259, 3, [1]), (262, 3, [32803]), (277, 3, [1]),
           (278, 3, [h]), (270, 2, "BAYERPAT= 'GRBG'\nEXPTIME = 30.\nDATE-OBS= '2025-03-01T22:15:30'"),
           (306, 2, "2025:03:01 22:15:30"), (33421, 3, [2, 2]), (33422, 1, [1, 0, 2, 1])]
out("raw", "tiff-cfa-cards.tif", tiff_ifd(cfa_tif, cfa_pixels(w, h, 16)))

# Calibration masters (fuzz-calib): byte 0 chooses the kind (0 bias, 1 dark, 2 flat,
# 3 dark-flat), the rest is the master FITS file, checked against 32×32 RGGB lights of 30 s.
def fits(w, h, cards, values, bitpix=-32):
    hdr = ["SIMPLE  =                    T", f"BITPIX  = {bitpix:20d}", "NAXIS   =                    2",
           f"NAXIS1  = {w:20d}", f"NAXIS2  = {h:20d}"] + cards + ["END"]
    text = "".join(c.ljust(80) for c in hdr)
    text += " " * (-len(text) % 2880)
    fmt = ">f" if bitpix == -32 else ">h"
    data = b"".join(struct.pack(fmt, v if bitpix == -32 else int(v)) for v in values)
    data += b"\0" * (-len(data) % 2880)
    return text.encode("ascii") + data

def master(kind, imagetyp, level, w=32, h=32, bayer="RGGB", exptime=30.0, bitpix=-32):
    cards = [f"IMAGETYP= '{imagetyp}'", f"BAYERPAT= '{bayer}'", f"EXPTIME = {exptime:20.3f}", "NCOMBINE=                   12"]
    vals = [level + ((x * 7 + y * 3) % 5) * (0.01 if kind == 2 else 1) for y in range(h) for x in range(w)]
    return bytes([kind]) + fits(w, h, cards, vals, bitpix)

out("calib", "bias.bin", master(0, "Master Bias", 500))
out("calib", "dark.bin", master(1, "Master Dark", 650))
out("calib", "dark-60s.bin", master(1, "Master Dark", 800, exptime=60.0))
out("calib", "flat.bin", master(2, "Master Flat", 1.0))
out("calib", "flat-int16.bin", master(2, "Master Flat", 20000, bitpix=16))
out("calib", "dark-flat.bin", master(3, "Master Dark Flat", 510, exptime=1.0))
out("calib", "dark-16x16.bin", master(1, "Master Dark", 650, w=16, h=16))
out("calib", "dark-gbrg.bin", master(1, "Master Dark", 650, bayer="GBRG"))
