# Per-channel star FWHM in raw Bayer frames (issue 12, round 10 of the rims): for the isolated,
# unsaturated bright stars of each frame, a circular Gaussian + constant fitted (free centre)
#  (a) to the frame's own CFA sites of each colour (no interpolation: the optical PSF with the
#      pixel aperture), and
#  (b) to the MHC-demosaiced plane of each colour (what the deconvolution's data term sees),
# and, when a folder of PSF-model dumps is given (README.md: a temporary patch writes them), the same fit
# on each PSF model (resampled to image pixels).
#   /usr/bin/python3 tools/deconv-m94/chanfwhm.py FRAMES_DIR [PSF_DUMP_DIR] [NFRAMES]
import sys, os, glob, numpy as np
sys.path.insert(0, os.path.dirname(__file__))
from fits import read
from scipy import ndimage as nd
from scipy.optimize import least_squares

def cfa_colour(h, w):
    # GRBG: row 0 G R, row 1 B G
    c = np.ones((h, w), int)
    c[0::2, 1::2] = 0
    c[1::2, 0::2] = 2
    return c

def mhc(raw, col):
    # Malvar–He–Cutler, the standard 5×5 kernels (/8)
    G_at_RB = np.array([[0,0,-1,0,0],[0,0,2,0,0],[-1,2,4,2,-1],[0,0,2,0,0],[0,0,-1,0,0]])/8.
    R_at_G_Rrow = np.array([[0,0,.5,0,0],[0,-1,0,-1,0],[-1,4,5,4,-1],[0,-1,0,-1,0],[0,0,.5,0,0]])/8.
    R_at_G_Brow = R_at_G_Rrow.T
    R_at_B = np.array([[0,0,-1.5,0,0],[0,2,0,2,0],[-1.5,0,6,0,-1.5],[0,2,0,2,0],[0,0,-1.5,0,0]])/8.
    cv = lambda k: nd.convolve(raw, k, mode='mirror')
    gRB, rGr, rGb, rB = cv(G_at_RB), cv(R_at_G_Rrow), cv(R_at_G_Brow), cv(R_at_B)
    h, w = raw.shape
    yy, xx = np.mgrid[0:h, 0:w]
    R = np.where(col == 0, raw, 0.); G = np.where(col == 1, raw, 0.); B = np.where(col == 2, raw, 0.)
    G = np.where(col != 1, gRB, G)
    rrow = (yy % 2 == 0)   # GRBG: red sites in even rows
    # red: at G in red rows rGr, at G in blue rows rGb, at B rB
    R = np.where((col == 1) & rrow, rGr, R); R = np.where((col == 1) & ~rrow, rGb, R); R = np.where(col == 2, rB, R)
    B = np.where((col == 1) & ~rrow, rGr, B); B = np.where((col == 1) & rrow, rGb, B); B = np.where(col == 0, rB, B)
    return np.stack([R, G, B])

def gfit(vals, ys, xs, x0, y0):
    def res(p):
        A, cx, cy, s, b = p
        return A * np.exp(-((xs - cx)**2 + (ys - cy)**2) / (2 * s * s)) + b - vals
    p0 = [vals.max() - np.median(vals), x0, y0, 1.0, np.median(vals)]
    r = least_squares(res, p0, bounds=([0, x0-3, y0-3, 0.3, -np.inf], [np.inf, x0+3, y0+3, 6, np.inf]))
    return 2.354820045 * r.x[3], r.x[1], r.x[2]

def stars(raw, col, sat=60000):
    # green superpixels for detection
    g = 0.5 * (raw[0::2, 0::2] + raw[1::2, 1::2])
    bg = np.median(g); sd = 1.4826 * np.median(np.abs(g - bg))
    mx = nd.maximum_filter(g, 5)
    pk = np.argwhere((g == mx) & (g > bg + 60 * sd))
    out = []
    for (y, x) in pk:
        Y, X = 2 * y, 2 * x
        if Y < 30 or X < 30 or Y >= raw.shape[0] - 30 or X >= raw.shape[1] - 30: continue
        if raw[Y-6:Y+7, X-6:X+7].max() > 0.8 * sat: continue
        near = [(y2, x2) for (y2, x2) in pk if (y2, x2) != (y, x) and np.hypot(y2 - y, x2 - x) < 10]
        if near: continue
        out.append((Y, X))
    return out

fdir = sys.argv[1]; dump = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] != '-' else None
nf = int(sys.argv[3]) if len(sys.argv) > 3 else 4
files = sorted(glob.glob(os.path.join(fdir, '*.fit*')))
R = 7
for fi, path in enumerate(files[:nf]):
    raw, hd = read(path)
    raw = raw.astype(float)
    col = cfa_colour(*raw.shape)
    dm = mhc(raw, col)
    st = stars(raw, col)
    raws = [[], [], []]; dms = [[], [], []]; cen = [[], [], []]
    for (Y, X) in st[:40]:
        yy, xx = np.mgrid[Y-R:Y+R+1, X-R:X+R+1]
        cc = col[Y-R:Y+R+1, X-R:X+R+1]; v = raw[Y-R:Y+R+1, X-R:X+R+1]
        gcx = gcy = None
        for c in range(3):
            m = cc == c
            f, cx, cy = gfit(v[m], yy[m], xx[m], X, Y)
            raws[c].append(f); cen[c].append((cx, cy))
            f2, _, _ = gfit(dm[c, Y-R:Y+R+1, X-R:X+R+1].ravel(), yy.ravel(), xx.ravel(), X, Y)
            dms[c].append(f2)
    dR = np.array(cen[0]) - np.array(cen[1]); dB = np.array(cen[2]) - np.array(cen[1])
    line = "frame %d (%d stars): raw CFA sites R/G/B %.3f / %.3f / %.3f; MHC R/G/B %.3f / %.3f / %.3f; centre R-G %+.2f %+.2f, B-G %+.2f %+.2f (sd %.2f %.2f)" % (
        fi, len(raws[0]), *[np.median(a) for a in raws], *[np.median(a) for a in dms],
        *np.median(dR, 0), *np.median(dB, 0), np.std(dR[:, 0]), np.std(dB[:, 0]))
    if dump:
        pf = []
        for c in range(3):
            fn = os.path.join(dump, 'psf-%03d-%d.raw' % (fi, c))
            if not os.path.exists(fn): pf.append(np.nan); continue
            b = open(fn, 'rb').read()
            size, ov, fs = np.frombuffer(b[:12], '<i4')
            p = np.frombuffer(b[12:], '<f4').reshape(size, size).astype(float)
            r0 = size // 2
            yy, xx = (np.mgrid[0:size, 0:size] - r0) / ov
            f, _, _ = gfit(p.ravel(), yy.ravel(), xx.ravel(), 0, 0)
            pf.append(f)
        line += "; PSF model R/G/B %.3f / %.3f / %.3f" % tuple(pf)
    print(line, flush=True)
