# Colour rims round stars (issue 12): for the 10 brightest unsaturated isolated stars of the mean
# stack, per annulus (0-2, 2-4, 4-6 px round the luminance peak; background the median of
# 10-14 px per channel) the colour ratios R/G and B/G, each divided by the star's own ratio within
# 6 px, so 1.00 = the annulus has the star's colour; a red rim reads R/G > 1 at 2-4 px.
# Also each channel's fraction of its 0-6 px flux beyond 2 px (how much is left outside the core).
#   /usr/bin/python3 tools/deconv-m94/rims.py dec.fits mean.fits [more.fits ...]
import sys, os, numpy as np
sys.path.insert(0, os.path.dirname(__file__))
from fits import read
from scipy import ndimage as nd
mean, _ = read(sys.argv[2])
C, H, W = mean.shape
lm = mean.mean(0)
g = mean[1]; d = g[:, :-1] - g[:, 1:]; ngm = 1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2)
mx = nd.maximum_filter(lm, size=5)
pk = [(y, x) for y, x in np.argwhere((lm == mx) & (lm > 50 * ngm)) if 40 <= y < H - 40 and 40 <= x < W - 40]
sel = [(y, x) for i, (y, x) in enumerate(pk)
       if not any(j != i and np.hypot(y2 - y, x2 - x) <= 20 for j, (y2, x2) in enumerate(pk)) and mean[:, y, x].max() < 25000]
yy, xx = np.mgrid[-14:15, -14:15]; rr = np.hypot(yy, xx)
def flux(a, y, x):
    st = a[:, y - 14:y + 15, x - 14:x + 15]
    bg = np.median(st[:, (rr >= 10) & (rr <= 14)], axis=1)
    return st - bg[:, None, None]
sel.sort(key=lambda p: -flux(mean, *p)[1][rr <= 6].sum())
sel = sel[:10]
print("stars (x, y):", " ".join("(%d, %d)" % (x, y) for y, x in sel))
ann = [(0, 2), (2, 4), (4, 6)]
for path in [sys.argv[1]] + sys.argv[3:] + [sys.argv[2]]:
    a, _ = read(path)
    stack = np.zeros((3,) + rr.shape)
    dif = np.zeros((len(sel), 3, 2))
    for i, (y, x) in enumerate(sel):
        st = flux(a, y, x)
        st = st / st[:, rr <= 6].sum(1)[:, None, None]   # each channel per unit of its 0-6 px flux
        stack += st / len(sel)
        for k, (r0, r1) in enumerate(ann):
            m = (rr >= r0) & (rr < r1)
            f = st[:, m].sum(1)
            dif[i, k] = (f[0] - f[1], f[2] - f[1])
    fr = [[stack[c][(rr >= r0) & (rr < r1)].sum() for (r0, r1) in ann] for c in range(3)]
    print("%-12s fraction of the 0-6 px flux in 0-2 / 2-4 / 4-6 px: R %.3f %.3f %.3f  G %.3f %.3f %.3f  B %.3f %.3f %.3f" % (
        os.path.basename(path), *fr[0], *fr[1], *fr[2]))
    print("%-12s stacked colour ratio per annulus (1 = the star's own colour): R/G %.3f %.3f %.3f  B/G %.3f %.3f %.3f" % (
        "", *[fr[0][k] / fr[1][k] for k in range(3)], *[fr[2][k] / fr[1][k] for k in range(3)]))
    print("%-12s per star R-G fraction at 2-4 px: %s (median %+.3f); B-G: median %+.3f" % (
        "", " ".join("%+.3f" % v for v in dif[:, 1, 0]), np.median(dif[:, 1, 0]), np.median(dif[:, 1, 1])))
