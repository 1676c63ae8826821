#!/usr/bin/env bash
# run.memory_mb as a bound (issue #20, class 8): peak RSS of `process` and `deconv` at
# several budgets on 200 generated 1080×1920 Bayer frames and on three 12000×9000 frames,
# against the budget plus the stated fixed overhead (TSR_TBQR_MEMORY_OVERHEAD, 64 MiB).
# A run either stays within 1.15 × budget + overhead or is refused up front (before reading
# pixels) with the MiB it needs; the table says which, and how long the refusal took.
#
# Usage: bench/run-budget.sh [BUILD_DIR] [BUDGETS…]   (default budgets: 256 1024 4096)
# Sessions are generated once under $BENCH_DIR (default /var/tmp/tessera-bench; ~2.5 GB).
# FRAMES=N changes the frame count of the first session (default 200); SKIP_BIG=1 leaves out
# the 12000×9000 session, ONLY_BIG=1 runs only that one; COMMANDS="process" leaves out deconv.
# deconv runs DECONV_ITERATIONS (default 3) iterations: the peak is reached in the staging pass
# and the first iteration (tiles, workers and the kernel cache are allocated once).
set -euo pipefail
b=${1:-build}
shift || true
budgets=("$@")
[ ${#budgets[@]} -eq 0 ] && budgets=(256 1024 4096)
cli=${TSR_CLI:-"$b/src/cli/tessera-cli"}
dir=${BENCH_DIR:-/var/tmp/tessera-bench}
frames=${FRAMES:-200}
commands=${COMMANDS:-"process deconv"}
mkdir -p "$dir"
small="$dir/bayer-1080x1920-$frames"
big="$dir/mono-12000x9000-3"
if [ -z "${ONLY_BIG:-}" ] && [ ! -f "$small/truth.json" ]; then
  "$cli" synth "$small" --frames "$frames" -W 1920 -H 1080 --bayer GRBG >/dev/null
fi
sessions=()
[ -z "${ONLY_BIG:-}" ] && sessions+=("$small")
if [ -z "${SKIP_BIG:-}" ]; then
  if [ ! -f "$big/truth.json" ]; then
    "$cli" synth "$big" --frames 3 -W 12000 -H 9000 >/dev/null
  fi
  sessions+=("$big")
fi
overhead=64
printf '%-26s %-8s %8s %10s %8s %8s  %s\n' session command budget "peak MiB" "/budget" seconds outcome
for s in "${sessions[@]}"; do
  for c in $commands; do
    for m in "${budgets[@]}"; do
      out="$dir/out-$c.fits"
      log="$dir/log-$c-$m.txt"
      set +e
      /usr/bin/time -f '%M %e' -o "$dir/time.txt" "$cli" "$c" "$s" -o "$out" --set run.memory_mb="$m" \
        $( [ "$c" = deconv ] && echo --set deconv.memory_mb="$m" --set deconv.iterations="${DECONV_ITERATIONS:-3}" --set deconv.min_iterations=1 ) >"$log" 2>&1
      rc=$?
      set -e
      read -r kib secs < <(tail -1 "$dir/time.txt") || true
      peak=$((kib / 1024))
      if [ $rc -eq 0 ]; then
        bound=$(python3 -c "print('within' if $peak <= 1.15*$m + $overhead else 'OVER')")
        outcome="ran, $bound 1.15 × budget + $overhead MiB"
      else
        outcome="refused: $(tail -1 "$log" | cut -c1-110)"
      fi
      printf '%-26s %-8s %8s %10s %8.2f %8s  %s\n' "$(basename "$s")" "$c" "$m" "$peak" \
        "$(python3 -c "print($peak/$m)")" "$secs" "$outcome"
    done
  done
done
