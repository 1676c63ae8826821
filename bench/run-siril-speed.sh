#!/usr/bin/env bash
# Issue #19's speed figures: wall time, CPU time (user + system) and peak RSS of
# `tessera-cli process` against `siril-cli` (convert + debayer, register, rejection stack
# with additive+scale normalisation) on the same frames, measured in one run, the two tools
# interleaved A B A B … so that a change in the machine's load hits both alike. Prints each
# run and the median ratios Tessera / Siril (goals: wall ≤ 0.33, CPU ≤ 0.40, peak RSS ≤ 1.5).
# Benchmark only: siril is not a dependency of Tessera (apt-get install siril to run this).
# Usage: bench/run-siril-speed.sh [BUILD_DIR] [SESSION_DIR] [REPEATS] [-- tessera-cli process options…]
#   SESSION_DIR defaults to a generated 32-frame 1080×1920 GRBG session
#   ($BENCH_DIR/siril-speed-32, generated on first use with `tessera-cli synth`);
#   REPEATS (default 3) pairs of runs.
#   e.g. bench/run-siril-speed.sh build ../shared/data/seestar-m94-s3
# TESSERA_BASE=/path/to/an/older/tessera-cli adds a third run per round (A B C …) and the
# ratios of this build to that one: a before/after measured under the same load.
set -euo pipefail
b=$(cd "${1:-build}" && pwd)
cli="$b/src/cli/tessera-cli"
dir=${2:-${BENCH_DIR:-/tmp}/siril-speed-32}
reps=${3:-3}
shift $(( $# < 3 ? $# : 3 ))
[ "${1:-}" = "--" ] && shift
command -v siril-cli >/dev/null || { echo "siril-cli not installed: nothing to compare (apt-get install siril)"; exit 0; }
[ -x /usr/bin/time ] || { echo "run-siril-speed: /usr/bin/time is needed (apt-get install time)"; exit 1; }
if [ ! -d "$dir" ]; then
  echo "generating a 32-frame 1080×1920 GRBG session in $dir"
  "$cli" synth -n 32 -W 1080 -H 1920 --bayer GRBG "$dir" > /dev/null
fi
dir=$(cd "$dir" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/siril-common.sh"
# Siril reads the frames through symlinks (top level of SESSION_DIR, name order), so both
# tools start from the same files
siril_prepare "$work" "$dir" 1
n=$siril_n
echo "frames: $n in $dir; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# one line per run: tool wall_s cpu_s peak_MiB
for i in $(seq "$reps"); do
  rm -f "$work/tessera.fits"
  /usr/bin/time -f "tessera %e %U %S %M" -a -o "$work/times" \
    "$cli" process "$dir" -o "$work/tessera.fits" "$@" > "$work/tessera.log" 2>&1 \
    || { tail -5 "$work/tessera.log"; exit 1; }
  rm -rf "$work/siril/conv" "$work/siril_result.fits"
  (cd "$work/siril" && /usr/bin/time -f "siril %e %U %S %M" -a -o "$work/times" \
    siril-cli -s "$work/siril.ssf" > "$work/siril.log" 2>&1) || { tail -20 "$work/siril.log"; exit 1; }
  if [ -n "${TESSERA_BASE:-}" ]; then
    /usr/bin/time -f "base %e %U %S %M" -a -o "$work/times" \
      "$TESSERA_BASE" process "$dir" -o "$work/base.fits" "$@" > "$work/base.log" 2>&1 \
      || { tail -5 "$work/base.log"; exit 1; }
    rm -f "$work/base.fits"
    tail -3 "$work/times" | sed "s/^/run $i: /"
  else
    tail -2 "$work/times" | sed "s/^/run $i: /"
  fi
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$work/times" <<'PY'
import statistics as st, sys
runs = {"tessera": [], "siril": [], "base": []}
for line in open(sys.argv[1]):
    t = line.split()
    if len(t) == 5 and t[0] in runs:
        runs[t[0]].append((float(t[1]), float(t[2]) + float(t[3]), float(t[4]) / 1024))
pairs = list(zip(runs["tessera"], runs["siril"]))
for k, name, goal in ((0, "wall", 0.33), (1, "CPU", 0.40), (2, "peak RSS", 1.5)):
    r = [a[k] / b[k] for a, b in pairs]
    unit = "MiB" if k == 2 else "s"
    print("%-8s Tessera %s, Siril %s %s; ratio per pair %s, median %.2f (goal <= %.2f: %s)"
          % (name, " ".join("%.1f" % a[k] for a, _ in pairs), " ".join("%.1f" % b[k] for _, b in pairs),
             unit, " ".join("%.2f" % x for x in r), st.median(r), goal,
             "holds" if st.median(r) <= goal else "does not hold"))
if runs["base"]:
    for k, name in ((0, "wall"), (1, "CPU"), (2, "peak RSS")):
        r = [a[k] / b[k] for a, b in zip(runs["tessera"], runs["base"])]
        print("%-8s this build / TESSERA_BASE: base %s; ratio per round %s, median %.2f"
              % (name, " ".join("%.1f" % b[k] for b in runs["base"]), " ".join("%.2f" % x for x in r), st.median(r)))
PY
