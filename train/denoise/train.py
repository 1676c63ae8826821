#!/usr/bin/env python3
"""Train Tessera's learned denoiser (issue #14) and export its weights.

Reproducible: fixed seeds, CPU only, Debian's python3-torch (1.13). Run through
`./run train-denoise`, never by the tests. Writes, under --work (default build/train-denoise):
checkpoints (resumed automatically), log.csv; and at the end the shipped weights
(data/denoise/resunet-v1.tnnw), the parity vectors for the C test
(tests/data/denoise-parity.tnnw) and the loss curve (docs/denoise-loss.png).

Data: clean skies rendered by the project's own generator (`tessera-cli synth`, RGB truth
with Moffat stars, discs and nebulosity), seeds 101-108 train, 109-110 validation (80/20).
Each sample adds a sky with a gradient, Poisson + read noise at a random exposure scale,
and the method's augmentations (chroma block noise, row/column banding, low-noise and
mono variants). Input and target are normalised exactly as the C inference does it:
per channel (x - median) / sigma_MAD, then asinh.
"""
import argparse
import math
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tnnw  # noqa: E402
from model import ResUNet, ARCH  # noqa: E402

TRAIN_SEEDS = list(range(101, 109))
VAL_SEEDS = [109, 110]


def read_fits(path):
    """Minimal reader for the float32 primary HDU that tsr_fits_write produces."""
    with open(path, "rb") as f:
        raw = f.read()
    hdr = {}
    pos = 0
    while True:
        card = raw[pos:pos + 80].decode("ascii")
        pos += 80
        key = card[:8].strip()
        if key == "END":
            break
        if card[8:10] == "= ":
            hdr[key] = card[10:].split("/")[0].strip()
    pos = ((pos + 2879) // 2880) * 2880
    assert int(hdr["BITPIX"]) == -32, path
    dims = [int(hdr["NAXIS%d" % (i + 1)]) for i in range(int(hdr["NAXIS"]))]
    n = int(np.prod(dims))
    a = np.frombuffer(raw[pos:pos + 4 * n], dtype=">f4").astype(np.float32)
    return a.reshape(list(reversed(dims)))


def make_truths(cli, work, size):
    out = {}
    for seed in TRAIN_SEEDS + VAL_SEEDS:
        d = os.path.join(work, "sky-%d" % seed)
        t = os.path.join(d, "truth", "truth.fits")
        if not os.path.exists(t):
            subprocess.run([cli, "synth", d, "--frames", "5", "--width", str(size), "--height", str(size),
                            "--bayer", "RGGB", "--seed", str(seed), "--mirrored", "0", "--noise-only", "0",
                            "--trails", "0"], check=True, stdout=subprocess.DEVNULL)
        out[seed] = torch.from_numpy(read_fits(t).copy())
    return out


def robust_stats(x):
    """Per-channel background (median) and noise (MAD of horizontal differences / sqrt 2),
    the same estimator as tsr_denoise_stats() in src/engine/denoise/tsr-denoise.c."""
    c = x.shape[0]
    flat = x.reshape(c, -1)
    bg = flat.median(dim=1).values
    d = (x[:, :, 1:] - x[:, :, :-1]).reshape(c, -1)
    med = d.median(dim=1, keepdim=True).values
    mad = (d - med).abs().median(dim=1).values
    sigma = (1.4826 * mad / math.sqrt(2.0)).clamp_min(1e-12)
    return bg, sigma


def sample(truth, g, crop, ctx):
    """One (noisy, clean) pair in normalised asinh space, shape (3, crop, crop)."""
    _, h, w = truth.shape
    y0 = int(torch.randint(0, h - ctx + 1, (1,), generator=g))
    x0 = int(torch.randint(0, w - ctx + 1, (1,), generator=g))
    t = truth[:, y0:y0 + ctx, x0:x0 + ctx].clone()
    u = torch.rand(8, generator=g)
    mono = u[0] < 0.25
    if mono:
        t = t.mean(dim=0, keepdim=True).expand(3, -1, -1).clone()
    if torch.rand(1, generator=g) < 0.5:
        t = t.flip(2)
    if torch.rand(1, generator=g) < 0.5:
        t = t.flip(1)
    if torch.rand(1, generator=g) < 0.5:
        t = t.transpose(1, 2)
    # exposure scale: low-noise variants (a up to 30) teach the net to leave clean data alone
    if u[1] < 0.1:
        a = math.exp(math.log(5.0) + float(u[2]) * math.log(6.0))
    else:
        a = math.exp(math.log(0.05) + float(u[2]) * math.log(40.0))
    sky = math.exp(math.log(20.0) + float(u[3]) * math.log(100.0))
    yy = torch.linspace(-0.5, 0.5, ctx).view(ctx, 1)
    xx = torch.linspace(-0.5, 0.5, ctx).view(1, ctx)
    gdir = torch.randn(2, generator=g) * 0.1
    skymap = sky * (1.0 + gdir[0] * xx + gdir[1] * yy)
    colour = 1.0 + 0.1 * torch.randn(3, 1, 1, generator=g)
    if mono:
        colour = torch.ones(3, 1, 1)
    clean = a * t + skymap.unsqueeze(0) * colour
    rn = 3.0
    if mono:
        n1 = torch.poisson(clean[:1], generator=g) - clean[:1] + rn * torch.randn(1, ctx, ctx, generator=g)
        noisy = clean + n1.expand(3, -1, -1)
    else:
        noisy = torch.poisson(clean, generator=g) + rn * torch.randn(3, ctx, ctx, generator=g)
    sig0 = math.sqrt(sky + rn * rn)
    if u[4] < 0.3:  # chroma block noise: low-resolution colour blotches, upsampled
        k = int(torch.randint(4, 17, (1,), generator=g))
        lo = torch.randn(1, 3, max(2, ctx // k), max(2, ctx // k), generator=g) * sig0 * 0.5 * float(u[5])
        noisy = noisy + F.interpolate(lo, size=(ctx, ctx), mode="bilinear", align_corners=False)[0]
    if u[6] < 0.2:  # row or column banding
        amp = sig0 * 0.4 * float(u[7])
        if torch.rand(1, generator=g) < 0.5:
            noisy = noisy + amp * torch.randn(1, ctx, 1, generator=g)
        else:
            noisy = noisy + amp * torch.randn(1, 1, ctx, generator=g)
    bg, sigma = robust_stats(noisy)
    bg = bg.view(3, 1, 1)
    sigma = sigma.view(3, 1, 1)
    o = (ctx - crop) // 2
    xin = torch.asinh((noisy - bg) / sigma)[:, o:o + crop, o:o + crop]
    zt = ((clean - bg) / sigma)[:, o:o + crop, o:o + crop]
    return xin, zt, sigma


def batch(truths, seeds, g, n, crop, ctx):
    xs, ts, ss = [], [], []
    for _ in range(n):
        s = seeds[int(torch.randint(0, len(seeds), (1,), generator=g))]
        x, t, sg = sample(truths[s], g, crop, ctx)
        xs.append(x)
        ts.append(t)
        ss.append(sg)
    return torch.stack(xs), torch.stack(ts), torch.stack(ss)


def gauss_kernel(sigma, radius):
    r = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (r / sigma) ** 2)
    return k / k.sum()


def blur(x, sigma, radius):
    k = gauss_kernel(sigma, radius)
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def star_mask(t):
    """Soft star mask of the clean target: luminance threshold -> dilate -> Gaussian blur."""
    lum = t.mean(dim=1, keepdim=True)
    m = (lum > 3.0).float()          # asinh 3 = ~10 sigma above the sky
    m = F.max_pool2d(m, 5, stride=1, padding=2)
    return blur(m, 1.5, 4).clamp(0, 1)


def ssim(p, t, L=8.0):
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    mp, mt = blur(p, 1.5, 5), blur(t, 1.5, 5)
    vp = blur(p * p, 1.5, 5) - mp * mp
    vt = blur(t * t, 1.5, 5) - mt * mt
    cv = blur(p * t, 1.5, 5) - mp * mt
    s = ((2 * mp * mt + c1) * (2 * cv + c2)) / ((mp * mp + mt * mt + c1) * (vp + vt + c2))
    return s.mean()


BETA, GAMMA, DELTA = 0.15, 1.0, 0.05


def loss_stage1(x, p, zt, sig):
    """Stage 1: the network output p is asinh(clean z); L1 in asinh space."""
    t = torch.asinh(zt)
    m = star_mask(t)
    w = 1.0 - 0.5 * m
    l1 = (w * (p - t).abs()).mean()
    ls = 1.0 - ssim(p, t)
    nm = 1.0 - m
    dl = torch.sinh(p.clamp(max=6.0)) - torch.sinh(t.clamp(max=6.0))
    lb = ((nm * dl).sum(dim=(2, 3)) / nm.sum(dim=(2, 3)).clamp_min(1.0)).abs().mean()
    e = p - t
    tv = ((m[:, :, :, 1:] * (e[:, :, :, 1:] - e[:, :, :, :-1]).abs()).mean()
          + (m[:, :, 1:, :] * (e[:, :, 1:, :] - e[:, :, :-1, :]).abs()).mean())
    total = (1 - BETA) * l1 + BETA * ls + GAMMA * lb + DELTA * tv
    return total, (l1.item(), ls.item(), lb.item(), tv.item())


def loss_fn(x, r, zt, sig):
    """x: network input asinh(z); r: its output (correction in noise units); zt: clean z;
    sig: the noise sigma in electrons (sets the Poisson part of each pixel's noise)."""
    den = torch.sinh(x) + r
    pa, ta = torch.asinh(den), torch.asinh(zt)
    m = star_mask(ta)
    # L1 in linear units, each pixel relative to its own noise (sky + Poisson), and in
    # asinh units with reduced weight on stars
    noise = torch.sqrt(1.0 + zt.clamp_min(0.0) / sig)
    l_lin = ((den - zt).abs() / noise).mean()
    l_asinh = ((1.0 - 0.5 * m) * (pa - ta).abs()).mean()
    l1 = 0.5 * l_lin + 0.5 * l_asinh
    ls = 1.0 - ssim(pa, ta)
    # brightness consistency outside stars (noise units)
    nm = 1.0 - m
    lb = ((nm * (den - zt)).sum(dim=(2, 3)) / nm.sum(dim=(2, 3)).clamp_min(1.0)).abs().mean()
    # total variation of the error inside stars: smooths ringing without flattening cores
    e = pa - ta
    tv = ((m[:, :, :, 1:] * (e[:, :, :, 1:] - e[:, :, :, :-1]).abs()).mean()
          + (m[:, :, 1:, :] * (e[:, :, 1:, :] - e[:, :, :-1, :]).abs()).mean())
    total = (1 - BETA) * l1 + BETA * ls + GAMMA * lb + DELTA * tv
    return total, (l1.item(), ls.item(), lb.item(), tv.item())


def main():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default=os.path.join(root, "build", "src", "cli", "tessera-cli"))
    ap.add_argument("--work", default=os.path.join(root, "build", "train-denoise"))
    ap.add_argument("--out", default=os.path.join(root, "data", "denoise", "resunet-v1.tnnw"))
    ap.add_argument("--parity", default=os.path.join(root, "tests", "data", "denoise-parity.tnnw"))
    ap.add_argument("--plot", default=os.path.join(root, "docs", "denoise-loss.png"))
    ap.add_argument("--stage", type=int, default=2)
    ap.add_argument("--steps", type=int, default=None, help="length of the learning-rate schedule")
    ap.add_argument("--stop", type=int, default=None, help="stop at this step (stage 1: 800 of 2500)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=None, help="training crop (128 stage 1, 96 stage 2)")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    # the recipe: stage 1 = 800 steps of a 2500-step schedule at peak lr 1e-3 (asinh output);
    # stage 2 = 300 steps at peak lr 3e-4 from stage 1 (linear residual output), 96 px crops
    if args.steps is None:
        args.steps = 2500 if args.stage == 1 else 300
    if args.stop is None:
        args.stop = 800 if args.stage == 1 else args.steps
    if args.crop is None:
        args.crop = 128 if args.stage == 1 else 96
    if args.lr is None:
        args.lr = 1e-3 if args.stage == 1 else 3e-4
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.work, exist_ok=True)
    truths = make_truths(args.cli, args.work, args.size)
    model = ResUNet(linear=args.stage == 2)
    lossf = loss_fn if args.stage == 2 else loss_stage1
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    warm = 100 if args.stage == 1 else 20
    # schedule: warm-up (100 steps, 20 in stage 2), then cosine decay to 1 % of the peak
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 100) * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps)))))
    ckpt = os.path.join(args.work, "checkpoint.pt" if args.stage == 2 else "checkpoint-v1.pt")
    logp = os.path.join(args.work, "log.csv" if args.stage == 2 else "log-stage1.csv")
    step = 0
    g = torch.Generator().manual_seed(args.seed)
    elapsed = 0.0
    if os.path.exists(ckpt):
        st = torch.load(ckpt)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        g.set_state(st["gen"])
        step = st["step"]
        elapsed = st.get("elapsed", 0.0)
        print("resumed at step %d" % step, flush=True)
    else:
        if args.stage == 2:
            st1 = torch.load(os.path.join(args.work, "checkpoint-v1.pt"))
            model.load_state_dict(st1["model"])
            # the stage-1 tail made the asinh-space correction, which near the sky (|z| small,
            # sinh ~ identity) is the linear correction: keep it as the starting point
            print("stage 2 from stage 1 at step %d" % st1["step"], flush=True)
        with open(logp, "w") as f:
            f.write("step,train_loss,val_loss,val_l1,val_psnr_gain_db,lr,seconds\n")
    gv = torch.Generator().manual_seed(12345)
    val = [batch(truths, VAL_SEEDS, gv, args.batch, args.crop, args.crop + 64) for _ in range(4)]
    t0 = time.time() - elapsed
    run = 0.0
    nrun = 0
    while step < args.stop:
        model.train()
        x, t, sg = batch(truths, TRAIN_SEEDS, g, args.batch, args.crop, args.crop + 64)
        loss, _ = lossf(x, model(x), t, sg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        run += loss.item()
        nrun += 1
        if step % 50 == 0 or step == args.stop:
            model.eval()
            with torch.no_grad():
                vl, v1, gain = 0.0, 0.0, 0.0
                for vx, vt, vs in val:
                    vr = model(vx)
                    l, parts = lossf(vx, vr, vt, vs)
                    vl += l.item() / len(val)
                    v1 += parts[0] / len(val)
                    mse_in = ((torch.sinh(vx) - vt) ** 2).mean().item()
                    den = torch.sinh(vx) + vr if args.stage == 2 else torch.sinh(vr)
                    mse_out = ((den - vt) ** 2).mean().item()
                    gain += 10 * math.log10(mse_in / mse_out) / len(val)
            el = time.time() - t0
            with open(logp, "a") as f:
                f.write("%d,%.5f,%.5f,%.5f,%.3f,%.3g,%.0f\n" % (step, run / nrun, vl, v1, gain, sched.get_last_lr()[0], el))
            print("step %d train %.4f val %.4f (L1 %.4f, gain %.2f dB) lr %.2g %.0f s"
                  % (step, run / nrun, vl, v1, gain, sched.get_last_lr()[0], el), flush=True)
            run, nrun = 0.0, 0
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                        "gen": g.get_state(), "step": step, "elapsed": el}, ckpt + ".tmp")
            os.replace(ckpt + ".tmp", ckpt)

    if args.stage == 1:
        print("stage 1 done after %.0f s" % (time.time() - t0), flush=True)
        return
    export(model, truths, args.out, args.parity)
    plot(os.path.join(args.work, "log-stage1.csv"), logp, args.plot)
    print("wrote %s, %s, %s after %.0f s" % (args.out, args.parity, args.plot, time.time() - t0), flush=True)


def export(model, truths, out, parity):
    """The shipped weights, and parity vectors: a held-out noisy 64 x 64 crop through the net."""
    model.eval()
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tnnw.write(out, ARCH, {k: v.detach().numpy() for k, v in model.state_dict().items()})
    g = torch.Generator().manual_seed(777)
    x, _, _ = sample(truths[VAL_SEEDS[0]], g, 64, 128)
    x = x.unsqueeze(0).contiguous()
    with torch.no_grad():
        y = model(x)
    os.makedirs(os.path.dirname(parity), exist_ok=True)
    tnnw.write(parity, "test-vectors;" + ARCH, {"input": x.numpy(), "output": y.numpy()})


def plot(log1, log2, out):
    """Both stages on one step axis (stage 2 continues after stage 1's last step)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    d1 = np.atleast_1d(np.genfromtxt(log1, delimiter=",", names=True))
    d2 = np.atleast_1d(np.genfromtxt(log2, delimiter=",", names=True)) if os.path.exists(log2) else None
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    ax[0].plot(d1["step"], d1["train_loss"], "C0-", label="stage 1 train (asinh output)")
    ax[0].plot(d1["step"], d1["val_loss"], "C1-", label="stage 1 validation")
    ax[1].plot(d1["step"], d1["val_psnr_gain_db"], "C1-", label="stage 1")
    if d2 is not None and d2.size:
        s0 = d1["step"][-1]
        ax[0].plot(s0 + d2["step"], d2["train_loss"], "C0--", label="stage 2 train (linear residual)")
        ax[0].plot(s0 + d2["step"], d2["val_loss"], "C1--", label="stage 2 validation")
        ax[1].plot(s0 + d2["step"], d2["val_psnr_gain_db"], "C1--o", label="stage 2")
    ax[0].set_xlabel("step (batch 8)")
    ax[0].set_ylabel("loss (the two stages use different losses)")
    ax[0].set_yscale("log")
    ax[0].legend(fontsize=7)
    ax[1].set_xlabel("step")
    ax[1].set_ylabel("validation PSNR gain over input (dB)")
    ax[1].legend(fontsize=7)
    fig.tight_layout()
    os.makedirs(os.path.dirname(out), exist_ok=True)
    fig.savefig(out, dpi=90)


if __name__ == "__main__":
    main()
