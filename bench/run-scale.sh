#!/usr/bin/env bash
# A night of frames (issue #19, scale): `tessera-cli process` on the first N frames of a
# generated 1080×1920 Bayer session for each N in NS, measured in one run: frames per second,
# peak RSS (and its ratio between the largest and the smallest N), the temporary disk the frame
# cache took against run.cache_disk_mb, the shown time left against the true one after 5 % of
# the run, and the seconds from SIGINT to exit at several points of a run.
#
# Usage: bench/run-scale.sh [BUILD_DIR]
#   SESSION=DIR   frames synth_0001.fits … (default /work/gen-2000/s2000; made once outside the
#                 repository: `tessera-cli synth DIR -n 2000 -W 1920 -H 1080 --bayer GRBG`)
#   NS="200 2000" frame counts (default); each run uses a folder of links to the first N frames
#   CANCEL_N=60   frames of the session the cancel runs use (default 60)
#   CANCEL_AT="Choosing reference:0;Registering:0.1;Registering:0.6;Rejection statistics:0.5;Drizzling:0.5;Accumulating:0.5"
#                 (a point whose phase the run does not have is printed as not reached)
#   WORK=DIR      scratch folder for the links and outputs (default /var/tmp/tessera-scale)
#   SET="…"       extra --set options for every run (e.g. "run.cache_disk_mb=0")
set -euo pipefail
b=${1:-build}
cli=$(realpath "${TSR_CLI:-$b/src/cli/tessera-cli}")
here=$(dirname "$(realpath "$0")")
session=${SESSION:-/work/gen-2000/s2000}
ns=${NS:-"200 2000"}
cancel_n=${CANCEL_N:-60}
work=${WORK:-/var/tmp/tessera-scale}
sets=()
for kv in ${SET:-}; do sets+=(--set "$kv"); done
mkdir -p "$work"
[ -d "$session" ] || { echo "run-scale.sh: $session: no session (see the usage)" >&2; exit 1; }
have=$(ls "$session" | grep -c '^synth_.*\.fits$' || true)

subset () {  # folder of links to the first $1 frames
  local n=$1 d="$work/s$1"
  if [ "$(ls "$d" 2>/dev/null | wc -l)" != "$n" ]; then
    rm -rf "$d"; mkdir -p "$d"
    ls "$session" | grep '^synth_.*\.fits$' | sort | head -n "$n" | while read -r f; do ln -s "$(realpath "$session/$f")" "$d/$f"; done
  fi
  echo "$d"
}

budget="16384 (the default)"
for kv in ${SET:-}; do case $kv in run.cache_disk_mb=*) budget=${kv#*=};; esac; done
echo "tessera-cli process, 1080×1920 Bayer frames from $session ($have frames), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "run.cache_disk_mb = ${budget:-default}; free in ${TMPDIR:-/tmp}: $(df -BG --output=avail "${TMPDIR:-/tmp}" | tail -1 | tr -d ' ')"
printf '%6s %9s %10s %12s %14s %11s %s\n' frames "wall s" "frames/s" "peak RSS MiB" "cache disk MiB" "rc" "ETA error after 5 % (at 5/10/25/50/75/90 %)"
declare -A rss fps
for n in $ns; do
  if [ "$n" -gt "$have" ]; then echo "$n frames: the session has only $have" >&2; continue; fi
  d=$(subset "$n")
  j="$work/run-$n.json"
  nice -n 5 python3 "$here/scale-run.py" -- "$cli" process "$d" -o "$work/out-$n.fits" "${sets[@]}" > "$j"
  python3 - "$j" "$n" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); n = int(sys.argv[2]); T = r['wall']
errs = []
for frac in (0.05, 0.10, 0.25, 0.50, 0.75, 0.90):
    x = [row for row in r['rows'] if row[0] <= frac * T and row[4] is not None]
    errs.append(100 * (x[-1][4] - (T - x[-1][0])) / (T - x[-1][0]) if x else float('nan'))
worst = max(abs(e) for e in errs)
print('%6d %9.1f %10.3f %12.0f %14.0f %11d  worst %+.0f %% (%s)' % (n, T, n / T, r['peak_rss_kib'] / 1024,
      r['cache_file_bytes'] / 2**20, r['rc'], max(errs, key=abs), ' '.join('%+.0f' % e for e in errs)))
if r['rc'] != 0: print('   ', r['last_line'])
# the progress rows for bench-eta: on the wall clock, and on the CLI's own CPU clock
with open(sys.argv[1][:-5] + '-wall.tsv', 'w') as f:
    for row in r['rows']:
        f.write('%.3f\t%s\t%d\t%d\n' % (row[0], row[1], row[2], row[3]))
if r.get('cpu') and all(len(row) > 6 and row[6] is not None for row in r['rows']):
    with open(sys.argv[1][:-5] + '-cpu.tsv', 'w') as f:
        for row in r['rows']:
            f.write('%.3f\t%s\t%d\t%d\n' % (row[6], row[1], row[2], row[3]))
    with open(sys.argv[1][:-5] + '-cpu.total', 'w') as f:
        f.write('%.3f\n' % r['cpu'])
PY
  # Replayed through today's estimator (bench-eta): on the wall clock (what the run showed
  # depends on the other jobs' load, which no estimate from the past can know) and on the
  # CLI's CPU clock (the same run as a machine whose load does not change would see it; the
  # CPU seconds count both workers, so the phases' relative costs are what the plan must get
  # right)
  eta="$b/bench/bench-eta"
  if [ -x "$eta" ]; then
    wall=$(python3 -c "import json; print(json.load(open('$j'))['wall'])")
    echo "       replayed (bench-eta), wall clock: $("$eta" "$d" "$wall" ${SET:-} < "${j%.json}-wall.tsv" | tail -1)"
    if [ -f "${j%.json}-cpu.tsv" ]; then
      "$eta" "$d" "$(cat "${j%.json}-cpu.total")" ${SET:-} < "${j%.json}-cpu.tsv" | sed 's/^/       CPU clock: /'
    fi
  fi
done
python3 - "$work" $ns <<'PY'
import json, sys, os
w = sys.argv[1]; ns = [int(x) for x in sys.argv[2:] if os.path.exists(f'{w}/run-{x}.json')]
if len(ns) >= 2:
    a, b = json.load(open(f'{w}/run-{ns[0]}.json')), json.load(open(f'{w}/run-{ns[-1]}.json'))
    print('peak RSS %d vs %d frames: %.3f (goal <= 1.1); seconds per frame: %.3f vs %.3f (%.2f×, linear = 1)' % (
        ns[-1], ns[0], b['peak_rss_kib'] / a['peak_rss_kib'], b['wall'] / ns[-1], a['wall'] / ns[0],
        (b['wall'] / ns[-1]) / (a['wall'] / ns[0])))
PY
# cancel at several points: seconds from SIGINT to exit, exit status, what was left behind
d=$(subset "$cancel_n")
IFS=';' read -r -a points <<< "${CANCEL_AT:-Choosing reference:0;Registering:0.1;Registering:0.6;Rejection statistics:0.5;Drizzling:0.5;Accumulating:0.5}"
printf '%-26s %10s %4s  %s\n' "SIGINT at" "latency s" rc "left behind"
for pt in "${points[@]}"; do
  out="$work/cancel.fits"; rm -f "$out"
  before=$(ls -A "$work" "${TMPDIR:-/tmp}" 2>/dev/null | grep -c 'tessera-cache\|\.part' || true)
  nice -n 5 python3 "$here/scale-run.py" --cancel-at "$pt" -- "$cli" process "$d" -o "$out" "${sets[@]}" > "$work/cancel.json"
  after=$(ls -A "$work" "${TMPDIR:-/tmp}" 2>/dev/null | grep -c 'tessera-cache\|\.part' || true)
  left=$([ -e "$out" ] && echo "$out exists" || echo "no output")
  [ "$after" -gt "$before" ] && left="$left, $((after - before)) temporary files"
  python3 -c "
import json; r = json.load(open('$work/cancel.json'))
print('%-26s %10s %4d  %s' % ('$pt', '%.2f' % r['cancel_latency'] if 'cancel_latency' in r else 'not reached', r['rc'], '$left'))"
done
