#!/bin/bash
# Build and run tools/deconv-kernels-bench.c (the deconvolution's row kernels timed alone) against a
# configured meson build directory: the compile arguments of tsr-deconv.c and the link line of
# test-deconv are read from its build.ninja.
# Usage: tools/deconv-kernels-bench.sh [BUILD_DIR] [W H REPS DRIFT [HOLES]]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
shift || true
ninja=$build/build.ninja
[ -f "$ninja" ] || { echo "no build.ninja in $build: configure and build first (./run build)" >&2; exit 1; }
ninja -C "$build" src/engine/libtessera.a >/dev/null
args=$(grep -A3 'deconv_tsr-deconv.c.o:' "$ninja" | grep ' ARGS = ' | head -1 | sed 's/^ *ARGS = //')
libs=$(grep -A3 'build tests/test-deconv:' "$ninja" | grep 'LINK_ARGS = ' | sed 's/^ *LINK_ARGS = //' | tr ' ' '\n' | grep -E '^-l|\.so$|^-pthread$' | grep -v libtessera | tr '\n' ' ')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# compiled from the build directory, as meson does (its include paths are relative to it)
(cd "$build" && eval gcc $args -Wno-unused-function -o "$out/deconv-kernels-bench" "$root/tools/deconv-kernels-bench.c" \
   -Wl,--allow-multiple-definition -Wl,--start-group src/engine/libtessera.a $libs -Wl,--end-group -lm)
"$out/deconv-kernels-bench" "$@"
