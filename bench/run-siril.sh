#!/usr/bin/env bash
# Wall time of `tessera-cli process` against `siril-cli` (convert + debayer, register, stack
# with rejection and additive+scale normalisation) on the same frames, printed as a ratio.
# Benchmark only: siril is not a dependency of Tessera (apt-get install siril to run this).
# Usage: bench/run-siril.sh [BUILD_DIR] [SESSION_DIR]
#   SESSION_DIR defaults to the 50-frame 1080×1920 Bayer session of bench-tbqr
#   ($BENCH_DIR/tbqr-50, generated on first use).
set -euo pipefail
b=${1:-build}
dir=${2:-${BENCH_DIR:-/tmp}/tbqr-50}
command -v siril-cli >/dev/null || { echo "siril-cli not installed: nothing to compare (apt-get install siril)"; exit 0; }
if [ ! -f "$dir/truth.json" ] && [ -z "${2:-}" ]; then "$b/bench/bench-tbqr" 50 >/dev/null; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/siril" "$work/tessera"
. "$(dirname "$0")/siril-common.sh"
# both tools start from the same files (top level of SESSION_DIR)
siril_prepare "$work" "$dir" 1
n=$siril_n
# wall time, and CPU time (user + system; on a shared machine the fairer comparison)
t0=$(date +%s.%N)
/usr/bin/time -f "%U %S" -o "$work/tessera.cpu" "$b/src/cli/tessera-cli" process "$dir" -o "$work/tessera/result.fits" > "$work/tessera.log"
t1=$(date +%s.%N)
(cd "$work/siril" && /usr/bin/time -f "%U %S" -o "$work/siril.cpu" siril-cli -s "$work/siril.ssf" > "$work/siril.log" 2>&1) || { tail -20 "$work/siril.log"; exit 1; }
t2=$(date +%s.%N)
tail -2 "$work/tessera.log"
python3 - "$t0" "$t1" "$t2" "$n" "$work/tessera.cpu" "$work/siril.cpu" <<'PY'
import sys
t0, t1, t2 = map(float, sys.argv[1:4])
cpu = [sum(map(float, open(f).read().split()[-2:])) for f in sys.argv[5:7]]
print("frames %s: tessera-cli process %.1f s, siril-cli register+stack %.1f s, ratio %.2f (goal <= 0.5); "
      "CPU %.1f s vs %.1f s, ratio %.2f"
      % (sys.argv[4], t1 - t0, t2 - t1, (t1 - t0) / (t2 - t1), cpu[0], cpu[1], cpu[0] / cpu[1]))
PY
