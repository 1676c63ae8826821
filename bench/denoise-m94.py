#!/usr/bin/env python3
"""Real-data check of the denoiser (docs/denoise.md): a 3-frame stack, denoised or not,
against the 11-frame stack of the same session in the same geometry (both made with
`tessera-cli process … --set register.reference=0`). Prints PSNR over the common area
(peak = the 11-frame stack's 0.1-99.9 % range) and the sky noise (MAD of a smooth-free
difference) of each image. Usage: denoise-m94.py R11.fits IMG.fits [IMG.fits …]"""
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 2)[0] + "/train/denoise")
from train import read_fits  # noqa: E402


def sky_noise(a):
    d = (a[:, :, 1:] - a[:, :, :-1]).reshape(a.shape[0], -1)
    d = d[:, np.isfinite(d).all(axis=0)]
    return float(np.median(1.4826 * np.median(np.abs(d - np.median(d, axis=1, keepdims=True)), axis=1) / np.sqrt(2)))


ref = read_fits(sys.argv[1]).astype(np.float64)
imgs = [read_fits(p).astype(np.float64) for p in sys.argv[2:]]
ok = np.isfinite(ref).all(axis=0) & (ref != 0).all(axis=0)
for a in imgs:
    ok &= np.isfinite(a).all(axis=0) & (a != 0).all(axis=0)
lo, hi = np.percentile(ref[:, ok], [0.1, 99.9])
print("reference %s: sky noise %.3f, common area %.1f %% of the frame" % (sys.argv[1], sky_noise(ref), 100 * ok.mean()))
for p, a in zip(sys.argv[2:], imgs):
    mse = np.mean((a[:, ok] - ref[:, ok]) ** 2)
    print("%-22s PSNR vs reference %.2f dB, sky noise %.3f" % (p, 10 * np.log10((hi - lo) ** 2 / mse), sky_noise(a)))
