#!/usr/bin/env python3
"""Write the fuzzers' seed corpora (tests/fuzz/corpus-*/): tiny hand-made FITS files and
project files covering the reader's branches. Standard library only; deterministic.

    tools/fuzz-seeds.py [OUTDIR]   (default tests/fuzz)
"""
import math
import os
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fuzz")


def card(key, value=None, comment=None):
    if value is None:
        s = key.ljust(80)
    else:
        if isinstance(value, bool):
            v = ("T" if value else "F").rjust(20)
        elif isinstance(value, str):
            v = ("'" + value.replace("'", "''").ljust(8) + "'").ljust(20)
        elif isinstance(value, float):
            v = repr(value).upper().rjust(20)
        else:
            v = str(value).rjust(20)
        s = key.ljust(8) + "= " + v
        if comment:
            s += " / " + comment
    return s[:80].ljust(80)


def header(cards):
    text = "".join(cards) + "END".ljust(80)
    pad = (-len(text)) % 2880
    return (text + " " * pad).encode("ascii")


def data_block(raw):
    return raw + b"\0" * ((-len(raw)) % 2880)


FMT = {8: "B", 16: ">h", 32: ">i", 64: ">q", -32: ">f", -64: ">d"}


def pack(bitpix, values):
    f = FMT[bitpix]
    if f == "B":
        return bytes(int(v) & 255 for v in values)
    return b"".join(struct.pack(f, v) for v in values)


def image(bitpix, axes, values, extra=(), primary=True):
    cards = [card("SIMPLE", True) if primary else card("XTENSION", "IMAGE"), card("BITPIX", bitpix),
             card("NAXIS", len(axes))]
    cards += [card("NAXIS%d" % (i + 1), a) for i, a in enumerate(axes)]
    if not primary:
        cards += [card("PCOUNT", 0), card("GCOUNT", 1)]
    cards += list(extra)
    return header(cards) + data_block(pack(bitpix, values))


def ramp(n, lo=0, step=1):
    return [lo + step * (i % 97) for i in range(n)]


STD = [card("DATE-OBS", "2025-04-09T22:10:05.250"), card("EXPTIME", 10.0), card("GAIN", 80)]


def fits_seeds():
    s = {}
    s["u16-bayer.fits"] = image(16, [8, 6], [v - 32768 for v in ramp(48, 30000, 13)],
                                [card("BZERO", 32768), card("BSCALE", 1), card("BAYERPAT", "GRBG"),
                                 card("XBAYROFF", 1), card("YBAYROFF", 0)] + STD)
    s["f32-nan.fits"] = image(-32, [8, 6], [float("nan") if i % 11 == 0 else (math.inf if i == 7 else i * 1.5)
                                            for i in range(48)], STD)
    s["f32-rgb.fits"] = image(-32, [4, 4, 3], [i * 0.25 for i in range(48)], [card("DATE-OBS", "2025-04-09")])
    s["u8.fits"] = image(8, [6, 5], ramp(30), [card("ROWORDER", "BOTTOM-UP"), card("BAYERPAT", "RGGB")])
    s["i32.fits"] = image(32, [5, 4], ramp(20, -100, 77), [card("BLANK", -100)])
    s["i64.fits"] = image(64, [4, 4], ramp(16, 1 << 40, 3))
    s["f64.fits"] = image(-64, [4, 3], [i / 7 for i in range(12)], [card("BSCALE", 2.0), card("BZERO", -1.0)])
    s["i16-blank.fits"] = image(16, [6, 4], [(-32768 if i % 5 == 0 else i) for i in range(24)],
                                [card("BLANK", -32768), card("TIME-OBS", "22:10:00")] +
                                [card("DATE-OBS", "2025-04-09")])
    s["naxis1.fits"] = image(16, [32], ramp(32))
    s["naxis4.fits"] = image(16, [2, 2, 2, 2], ramp(16))
    s["naxis3-2.fits"] = image(16, [4, 4, 2], ramp(32))
    s["bitpix-bad.fits"] = header([card("SIMPLE", True), card("BITPIX", 24), card("NAXIS", 2),
                                   card("NAXIS1", 4), card("NAXIS2", 4)]) + b"\0" * 2880
    s["huge-claim.fits"] = header([card("SIMPLE", True), card("BITPIX", 16), card("NAXIS", 2),
                                   card("NAXIS1", 100000), card("NAXIS2", 100000)]) + b"\0" * 2880
    s["zero-axis.fits"] = header([card("SIMPLE", True), card("BITPIX", 16), card("NAXIS", 2),
                                  card("NAXIS1", 0), card("NAXIS2", 8)])
    full = image(16, [16, 16], ramp(256))
    s["truncated-data.fits"] = full[:2880 + 100]
    s["truncated-header.fits"] = full[:1000]
    ext = header([card("SIMPLE", True), card("BITPIX", 8), card("NAXIS", 0), card("EXTEND", True)])
    s["in-extension.fits"] = ext + image(-32, [4, 4], [float(i) for i in range(16)],
                                         [card("EXTNAME", "SCI"), card("CFA-PAT", "BGGR")], primary=False)
    long = [card("HIERARCH ESO DET CHIP TEMP", -10.5), card("OBJECT", "&"),
            "CONTINUE  'a long string that continues'".ljust(80), card("CCD-TEMP", -5.0),
            card("COMMENT") , card("HISTORY")]
    s["hierarch.fits"] = image(16, [4, 4], ramp(16), long + STD)
    s["not-fits.fits"] = b"hello, this is not FITS\n"
    return s


SEP = b"\n--TSRFRAME--\n"


def session_seeds(fits):
    a = fits["u16-bayer.fits"]
    b = image(16, [8, 6], [v - 32768 for v in ramp(48, 31000, 7)],
              [card("BZERO", 32768), card("BAYERPAT", "GRBG"), card("XBAYROFF", 1),
               card("DATE-OBS", "2025-04-09T22:00:00")])
    c = image(16, [8, 6], ramp(48), [card("BAYERPAT", "RGGB"), card("DATE-OBS", "2025-04-09T21:00:00Z")])
    d = image(16, [6, 6], ramp(36))
    return {
        "two.bin": a + SEP + b,
        "mixed-pattern.bin": a + SEP + b + SEP + c,
        "mixed-size.bin": a + SEP + d,
        "names.bin": b"#name:.hidden.fits\n" + a + SEP + b"#name:notes.txt\nhello" + SEP + b"#name:x.fz\n" + b,
        "one-bad.bin": a + SEP + fits["truncated-data.fits"],
        "empty.bin": b"#name:readme.txt\nnothing here",
    }


def project_seeds():
    good = """# Tessera project
[tessera]
version=1

[session]
paths=frames;../more frames;
recursive=false

[global]
alpha=0.4
beta=0.3
gamma=0.3
k=0.6

[tiles]
s=32
overlap=0.5

[reject]
mode=sigma
kappa=3

[cluster]
mode=auto
"""
    return {
        "good.tessera": good,
        "unknown.tessera": "[tessera]\nversion=1\n[global]\nalpah=0.5\n[colour]\nx=1\n",
        "range.tessera": "[tessera]\nversion=1\n[tiles]\noverlap=7\n",
        "enum.tessera": "[tessera]\nversion=1\n[reject]\nmode=maybe\n[gate]\nkeep_gated=perhaps\n",
        "newer.tessera": "[tessera]\nversion=99\n",
        "garbage.tessera": "this is not\x01 a key file\n[[[\n",
        "sum.tessera": "[tessera]\nversion=1\n[global]\nalpha=0.9\nbeta=0.9\n",
        "set-lines.tessera": "global.alpha=0.5\ntiles.min=64\nrun.threads=2\nreject.mode=winsor\n",
        "samples.tessera": "# Tessera project\n[tessera]\nversion=1\n[session]\npaths=a;\n[samples]\nwidth=1080\n"
                           "edits=12.5,30;0,3.25,64;--0.25,77;\n",
    }


def main():
    fits = fits_seeds()
    for sub, seeds in (("corpus-fits", fits), ("corpus-session", session_seeds(fits)),
                       ("corpus-project", {k: v.encode() for k, v in project_seeds().items()})):
        d = os.path.join(OUT, sub)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print("%s: %d seeds" % (d, len(seeds)))


main()
