#!/usr/bin/env bash
# Peak RSS of a TBQR run for 50 and 200 generated 1080×1920 Bayer frames, and the ratio.
# Usage: bench/run-memory.sh [BUILD_DIR]   (needs ~1.7 GB of disk in $BENCH_DIR or /tmp)
set -euo pipefail
b=${1:-build}
out50=$("$b/bench/bench-tbqr" 50)
out200=$("$b/bench/bench-tbqr" 200)
echo "$out50"; echo "$out200"
r50=$(echo "$out50" | sed -E 's/.*peak RSS ([0-9.]+) MiB.*/\1/')
r200=$(echo "$out200" | sed -E 's/.*peak RSS ([0-9.]+) MiB.*/\1/')
python3 -c "print('peak RSS ratio 200/50 frames: %.3f (goal <= 1.3)' % ($r200/$r50))"
