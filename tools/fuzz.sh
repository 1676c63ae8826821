#!/usr/bin/env bash
# tools/fuzz.sh SECONDS [TARGET…] — build the libFuzzer targets (clang, ASan+UBSan) in
# build-fuzz/ and run each target for SECONDS, one after the other. TARGET is fits,
# session, project, image (PNG/JPEG/TIFF), ser, video, tnnw, calib, xisf, raw (camera raw
# and TIFF frames) or samples (the sky-sample file) (default: all eleven). The committed seed corpora in
# tests/fuzz/corpus-*/ are read, never written: new inputs go to build-fuzz/corpus-*/.
# A crash, leak, timeout or sanitizer report fails the script and leaves the reproducer
# in build-fuzz/artifacts/ (replay: build-fuzz/tests/fuzz/fuzz-TARGET FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fits session project image ser video tnnw calib xisf raw samples)
B=${TESSERA_FUZZ_BUILD:-build-fuzz}

if [ ! -f "$B/build.ninja" ]; then
  CC=clang meson setup "$B" -Dfuzz=true -Dwerror=false -Db_sanitize=address,undefined \
    -Db_lundef=false -Dapp=disabled >/dev/null
fi
ninja -C "$B" $(for t in "${targets[@]}"; do printf 'tests/fuzz/fuzz-%s ' "$t"; done) >/dev/null

mkdir -p "$B/artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0}
export G_DEBUG=fatal-criticals
export LC_ALL=C.UTF-8
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export TSR_FUZZ_TMPDIR=$tmp
status=0
for t in "${targets[@]}"; do
  mkdir -p "$B/corpus-$t"
  log="$B/fuzz-$t.log"
  echo "fuzz: $t for ${secs}s (log $log)"
  if "$B/tests/fuzz/fuzz-$t" -max_total_time="$secs" -timeout=20 -rss_limit_mb=3072 \
       -max_len=65536 -print_final_stats=1 -artifact_prefix="$B/artifacts/$t-" \
       "$B/corpus-$t" "tests/fuzz/corpus-$t" >"$log" 2>&1; then
    execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    echo "fuzz: $t: ${execs:-?} executions, $cov, no crash"
  else
    echo "fuzz: $t FAILED — see $log and $B/artifacts/" >&2
    tail -40 "$log" >&2
    status=1
  fi
done
exit $status
