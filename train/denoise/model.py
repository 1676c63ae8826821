"""The denoiser's ResUNet. Tensor names (state_dict keys) are the names the C model
(src/engine/denoise/tsr-denoise-net.c) looks up in the weight file."""
import torch
import torch.nn as nn
import torch.nn.functional as F

BASE = 16
ARCH = "resunet-v1;in=3;out=3;base=%d;levels=3;mid=2;residual=linear" % BASE


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x)))


class ResUNet(nn.Module):
    """Encoder (full, 1/2, 1/4 resolution) - bottleneck - decoder, residual blocks,
    concatenated skips. Input: asinh of the normalised image z; output: the correction r in
    linear noise units, clean z = sinh(input) + r (so r = 0 leaves every flux exactly as it
    was: a star core needs only a noise-sized correction, not an exact reproduction)."""

    def __init__(self, c=BASE, cin=3, linear=True):
        super().__init__()
        self.linear = linear
        self.head = nn.Conv2d(cin, c, 3, padding=1)
        self.enc1 = ResBlock(c)
        self.down1 = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)
        self.enc2 = ResBlock(2 * c)
        self.down2 = nn.Conv2d(2 * c, 4 * c, 3, stride=2, padding=1)
        self.mid1 = ResBlock(4 * c)
        self.mid2 = ResBlock(4 * c)
        self.up2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
        self.fuse2 = nn.Conv2d(4 * c, 2 * c, 1)
        self.dec2 = ResBlock(2 * c)
        self.up1 = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.fuse1 = nn.Conv2d(2 * c, c, 1)
        self.dec1 = ResBlock(c)
        self.tail = nn.Conv2d(c, cin, 3, padding=1)

    def forward(self, x):
        e1 = self.enc1(self.head(x))
        e2 = self.enc2(F.relu(self.down1(e1)))
        m = self.mid2(self.mid1(F.relu(self.down2(e2))))
        d2 = self.dec2(F.relu(self.fuse2(torch.cat([self.up2(m), e2], dim=1))))
        d1 = self.dec1(F.relu(self.fuse1(torch.cat([self.up1(d2), e1], dim=1))))
        # stage 1 of the recipe predicts asinh(clean z) directly (input + correction in asinh
        # space); the shipped stage-2 network returns the linear correction
        return self.tail(d1) if self.linear else x + self.tail(d1)
