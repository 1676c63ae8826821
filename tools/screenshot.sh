#!/bin/sh
# Screenshot of the Tessera window on a session folder, under a virtual X server.
#   tools/screenshot.sh SESSION-FOLDER [SECONDS] [OUTPUT.png] [BUILD-DIR]
# Starts `tessera --run --overlays=weights SESSION-FOLDER` (analyse, then reconstruct, with
# the weight map over the image; TESSERA_ARGS replaces those options) under xvfb-run with the
# cairo GSK renderer and GSettings in memory (nothing of the user's is changed), waits
# SECONDS (default 20), grabs the root window with ImageMagick's import.
set -eu
session=${1:?usage: tools/screenshot.sh SESSION-FOLDER [SECONDS] [OUTPUT.png] [BUILD-DIR]}
wait_s=${2:-20}
out=${3:-shot.png}
here=$(cd "$(dirname "$0")/.." && pwd)
build=${4:-$here/build-app}
args=${TESSERA_ARGS:---run --overlays=weights}
exe=$build/src/app/tessera
[ -x "$exe" ] || { echo "screenshot.sh: $exe not built (ninja -C $build)" >&2; exit 1; }
command -v xvfb-run >/dev/null || { echo "screenshot.sh: xvfb-run not installed" >&2; exit 1; }
command -v import >/dev/null || { echo "screenshot.sh: import (ImageMagick) not installed" >&2; exit 1; }
case $out in /*) ;; *) out=$(pwd)/$out ;; esac
case $session in /*) ;; *) session=$(pwd)/$session ;; esac

export GSK_RENDERER=cairo GTK_A11Y=none NO_AT_BRIDGE=1 GSETTINGS_BACKEND=memory
# shellcheck disable=SC2086 # $args is a list of options
xvfb-run -a -s "-screen 0 1600x1000x24" sh -c '
  exe=$1 session=$2 wait_s=$3 out=$4
  shift 4
  "$exe" "$@" "$session" &
  pid=$!
  sleep "$wait_s"
  # the window, without the empty (black) rest of the virtual screen
  import -window root -trim +repage "$out"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
' sh "$exe" "$session" "$wait_s" "$out" $args
echo "$out"
