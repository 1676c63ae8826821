#!/usr/bin/env bash
# Tessera's result against Siril's register + rejection stack of the same frames, per
# channel: FWHM, elongation, noise at 8×8 bins per unit star flux (bench-compare, ratios
# Tessera / Siril). Issue #17's yardstick. Benchmark only: siril is not a dependency of
# Tessera (apt-get install siril to run this).
# Usage: bench/run-siril-quality.sh BUILD_DIR SESSION_DIR [tessera-cli process options…]
#   e.g. bench/run-siril-quality.sh build ../shared/data/seestar-m94-s3
# bench-compare's last lines: the colour of the median bright star, then the two results' stars
# matched by position: noise per unit of the SAME stars' flux per channel, their colour against
# Siril's, and the noise per unit of their green flux (Siril's RCD debayer and its sky-based
# channel scaling make stars brighter in red and blue than the sensor recorded; docs/tbqr.md).
# SIRIL_CACHE=FILE.fits keeps Siril's stack there (made when absent, reused when present), so
# that comparing Tessera settings does not rerun Siril each time.
set -euo pipefail
b=$(cd "${1:?build dir}" && pwd)
dir=$(cd "${2:?session dir}" && pwd)
shift 2
command -v siril-cli >/dev/null || { echo "siril-cli not installed: nothing to compare (apt-get install siril)"; exit 0; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/siril-common.sh"
# Siril reads the frames (any depth of subfolders) through symlinks, in name order
siril_prepare "$work" "$dir" "" "setfindstar ${SIRIL_SIGMA:-0.3} 0.5"
n=$siril_n
if [ -n "${SIRIL_CACHE:-}" ] && [ -s "$SIRIL_CACHE" ]; then
  cp "$SIRIL_CACHE" "$work/siril_result.fits"
  echo "siril: reusing $SIRIL_CACHE"
else
  (cd "$work/siril" && siril-cli -s "$work/siril.ssf" > "$work/siril.log" 2>&1) || { tail -20 "$work/siril.log"; exit 1; }
  grep -E "registered" "$work/siril.log" | tail -1 | sed 's/^log: /siril: /' || true
  if [ -n "${SIRIL_LOG:-}" ]; then cp "$work/siril.log" "$SIRIL_LOG"; fi
  if [ -n "${SIRIL_CACHE:-}" ]; then cp "$work/siril_result.fits" "$SIRIL_CACHE.tmp" && mv "$SIRIL_CACHE.tmp" "$SIRIL_CACHE"; fi
fi
"$b/src/cli/tessera-cli" process "$dir" --recursive -o "$work/tessera.fits" "$@" | tail -3
echo "frames: $n; first row Siril 1.x register + rejection stack, second Tessera; ratios Tessera / Siril"
"$b/bench/bench-compare" "$work/siril_result.fits" "$work/tessera.fits"
