#!/usr/bin/env bash
# Every bench/ program once on a tiny input, so none rots unnoticed (meson test suite
# "bench", run by ./run test and CI). Checks only that each runs to completion and exits 0;
# the numbers of such tiny runs mean nothing. Usage: bench/run-tiny.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tessera-bench-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export TMPDIR="$tmp"
run() { echo "=== $*"; "$@" > "$tmp/out.txt" 2>&1 || { cat "$tmp/out.txt"; echo "FAILED: $*"; exit 1; }; tail -n 3 "$tmp/out.txt"; }
"$build/src/cli/tessera-cli" synth "$tmp/session" --frames 4 --width 160 --height 120 > /dev/null
b="$build/bench"
run "$b/bench-read" "$tmp/session" --repeat 1
run "$b/bench-register" "$tmp/session"
run "$b/bench-warp" 96 64 1
run "$b/bench-median" 1
run "$b/bench-tbqr" 4 160 120
run "$b/bench-deconv" 4 96 64 64 2
run "$b/bench-reweigh" 6 3
run "$b/bench-frontier" quick
run "$b/bench-denoise" --width 128 --height 96
run "$b/bench-restore" 3 96 64 10 64
"$build/src/cli/tessera-cli" process "$tmp/session" -o "$tmp/r.fits" --mean-stack "$tmp/m.fits" > /dev/null
run "$b/bench-compare" "$tmp/m.fits" "$tmp/r.fits"
run "$b/bench-restore-colour" "$tmp/m.fits" "$tmp/r.fits"
printf '0\tRegistering\t0\t4\n1\tRegistering\t2\t4\n2\tRegistering\t4\t4\n' > "$tmp/rows.tsv"
run "$b/bench-eta" "$tmp/session" 3 < "$tmp/rows.tsv"
echo "every benchmark ran"
