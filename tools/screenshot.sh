#!/bin/sh
# Screenshot of the Tessera window on a session folder, under a virtual X server.
#   tools/screenshot.sh SESSION-FOLDER [SECONDS] [OUTPUT.png] [BUILD-DIR]
# Starts `tessera SESSION-FOLDER` (which analyses it) under xvfb-run with the cairo GSK
# renderer, waits SECONDS (default 20), grabs the root window with ImageMagick's import.
set -eu
session=${1:?usage: tools/screenshot.sh SESSION-FOLDER [SECONDS] [OUTPUT.png] [BUILD-DIR]}
wait_s=${2:-20}
out=${3:-shot.png}
here=$(cd "$(dirname "$0")/.." && pwd)
build=${4:-$here/build-app}
exe=$build/src/app/tessera
[ -x "$exe" ] || { echo "screenshot.sh: $exe not built (ninja -C $build)" >&2; exit 1; }
command -v xvfb-run >/dev/null || { echo "screenshot.sh: xvfb-run not installed" >&2; exit 1; }
command -v import >/dev/null || { echo "screenshot.sh: import (ImageMagick) not installed" >&2; exit 1; }
case $out in /*) ;; *) out=$(pwd)/$out ;; esac
case $session in /*) ;; *) session=$(pwd)/$session ;; esac

export GSK_RENDERER=cairo GTK_A11Y=none NO_AT_BRIDGE=1
xvfb-run -a -s "-screen 0 1600x1000x24" sh -c '
  "$1" "$2" &
  pid=$!
  sleep "$3"
  import -window root "$4"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
' sh "$exe" "$session" "$wait_s" "$out"
echo "$out"
