#!/usr/bin/env python3
"""Compare the data units of FITS files byte for byte, ignoring headers (which carry dates
and the processing history). Usage: fits-data-cmp.py A.fits B.fits [A2 B2 ...].
Exit 0 when every pair is identical; prints the first differing HDU otherwise."""
import sys


def hdus(path):
    data = open(path, "rb").read()
    out, pos = [], 0
    while pos < len(data):
        cards, end = {}, False
        while not end:
            block = data[pos:pos + 2880]
            pos += 2880
            for i in range(0, 2880, 80):
                card = block[i:i + 80].decode("ascii", "replace")
                key = card[:8].strip()
                if key == "END":
                    end = True
                    break
                if card[8:10] == "= ":
                    cards[key] = card[10:].split("/")[0].strip()
        n = abs(int(cards.get("BITPIX", 8))) // 8
        naxis = int(cards.get("NAXIS", 0))
        size = 0
        if naxis:
            size = n
            for k in range(1, naxis + 1):
                size *= int(cards["NAXIS%d" % k])
            size = (size + int(cards.get("PCOUNT", 0)))
        out.append(data[pos:pos + size])
        pos += (size + 2879) // 2880 * 2880
    return out


status = 0
args = sys.argv[1:]
for a, b in zip(args[::2], args[1::2]):
    ha, hb = hdus(a), hdus(b)
    same = len(ha) == len(hb) and all(x == y for x, y in zip(ha, hb))
    print(("identical " if same else "DIFFERENT ") + a + " " + b + " (%d HDUs)" % len(ha))
    status |= not same
sys.exit(status)
