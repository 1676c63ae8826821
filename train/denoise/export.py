#!/usr/bin/env python3
"""Export the weights and parity vectors from the latest training checkpoint (used while a
training runs, and by `./run train-denoise` after it)."""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train  # noqa: E402
from model import ResUNet  # noqa: E402

root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
work = os.path.join(root, "build", "train-denoise")
torch.set_num_threads(1)
m = ResUNet()
st = torch.load(sys.argv[1] if len(sys.argv) > 1 else os.path.join(work, "checkpoint.pt"))
m.load_state_dict(st["model"])
truths = train.make_truths(os.path.join(root, "build", "src", "cli", "tessera-cli"), work, 1024)
train.export(m, truths, os.path.join(root, "data", "denoise", "resunet-v1.tnnw"),
             os.path.join(root, "tests", "data", "denoise-parity.tnnw"))
if os.path.exists(os.path.join(work, "log.csv")):
    train.plot(os.path.join(work, "log-stage1.csv"), os.path.join(work, "log.csv"),
               os.path.join(root, "docs", "denoise-loss.png"))
print("exported step", st["step"])
