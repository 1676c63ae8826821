# Per-channel star photometry and colour (issue 12, round 10, luminance-guided colour): isolated
# unsaturated stars of the mean stack (luminance peaks >= 30 sigma, no other such peak within
# 20 px, peak < 25 k), aperture 8 px, background the median of 10-14 px, per channel.
# Prints per channel the median deconvolved / mean flux ratio, and the colour of the summed
# stars (R/G, B/G) in both images, in flux bins.
#   /usr/bin/python3 tools/deconv-m94/chflux.py dec.fits mean.fits
import sys, os, numpy as np
sys.path.insert(0, os.path.dirname(__file__))
from fits import read
from scipy import ndimage as nd
dec, _ = read(sys.argv[1]); mean, _ = read(sys.argv[2])
C, H, W = mean.shape
lm = mean.mean(0)
g = mean[1]; d = g[:, :-1] - g[:, 1:]; ng = 1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2)
mx = nd.maximum_filter(lm, size=5)
pk = [(y, x) for y, x in np.argwhere((lm == mx) & (lm > 30 * ng)) if 20 <= y < H - 20 and 20 <= x < W - 20]
P = np.array(pk)
sel = []
for i, (y, x) in enumerate(pk):
    dd = np.hypot(P[:, 0] - y, P[:, 1] - x)
    if (dd <= 20).sum() == 1 and mean[:, y, x].max() < 25000:
        sel.append((y, x))
yy, xx = np.mgrid[-14:15, -14:15]; rr = np.hypot(yy, xx)
def phot(a, y, x):
    st = a[:, y - 14:y + 15, x - 14:x + 15]
    bg = np.median(st[:, (rr >= 10) & (rr <= 14)], axis=1)
    return (st - bg[:, None, None])[:, rr <= 8].sum(1)
fm = np.array([phot(mean, y, x) for y, x in sel]); fd = np.array([phot(dec, y, x) for y, x in sel])
ok = (fm > 0).all(1) & (fd > 0).all(1)
fm, fd = fm[ok], fd[ok]
lum = fm.mean(1)
print("%d isolated stars (noise %.2f)" % (len(fm), ng))
edges = np.quantile(lum, [0, 1/3, 2/3, 1])
for b in range(3):
    m = (lum >= edges[b]) & (lum <= edges[b + 1])
    r = np.median(fd[m] / fm[m], 0)
    cm = fm[m].sum(0); cd = fd[m].sum(0)
    print("bin %d (%d stars, L %.0f-%.0f): dec/mean R %.4f G %.4f B %.4f; colour R/G %.4f vs %.4f (x%.4f), B/G %.4f vs %.4f (x%.4f)" % (
        b, m.sum(), edges[b], edges[b + 1], *r, cd[0] / cd[1], cm[0] / cm[1], (cd[0] / cd[1]) / (cm[0] / cm[1]),
        cd[2] / cd[1], cm[2] / cm[1], (cd[2] / cd[1]) / (cm[2] / cm[1])))
r = np.median(fd / fm, 0); cm = fm.sum(0); cd = fd.sum(0)
print("all: dec/mean R %.4f G %.4f B %.4f; colour of the summed stars R/G x%.4f, B/G x%.4f" % (
    *r, (cd[0] / cd[1]) / (cm[0] / cm[1]), (cd[2] / cd[1]) / (cm[2] / cm[1])))
