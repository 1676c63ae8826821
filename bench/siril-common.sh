# bench/siril-common.sh — sourced by the run-siril*.sh benchmarks: Siril's side of a
# comparison, the same for each (siril is a benchmark tool only, not a dependency).
#
# siril_prepare WORK SESSION_DIR FIND_DEPTH [EXTRA_SSF_LINE]
#   links the session's FITS frames (find -maxdepth FIND_DEPTH, or any depth when empty), in
#   name order, as WORK/siril/light_NNNNN.fits so that both tools start from the same files;
#   writes WORK/siril.ssf: convert + debayer, register, rejection stack with additive+scale
#   normalisation into WORK/siril_result.fits (EXTRA_SSF_LINE goes before `register`);
#   sets siril_n to the number of frames and fails with a message when there are none.
siril_prepare () {
  local work=$1 dir depth=$3 extra=${4:-} f
  dir=$(cd "$2" && pwd) || return 1
  local -a lim=()
  [ -n "$depth" ] && lim=(-maxdepth "$depth")
  mkdir -p "$work/siril"
  siril_n=0
  while IFS= read -r f; do
    siril_n=$((siril_n + 1)); ln -s "$f" "$work/siril/light_$(printf %05d $siril_n).fits"
  done < <(find "$dir" "${lim[@]}" -type f \( -name '*.fit' -o -name '*.fits' \) | sort)
  [ "$siril_n" -gt 0 ] || { echo "$(basename "$0"): no FITS frames in $dir"; return 1; }
  {
    echo "requires 1.0.0"
    echo "setext fits"
    echo "convert light -debayer -out=$work/siril/conv"
    echo "cd $work/siril/conv"
    [ -n "$extra" ] && echo "$extra"
    echo "register light"
    echo "stack r_light rej 3 3 -norm=addscale -output_norm -out=$work/siril_result"
    echo "close"
  } > "$work/siril.ssf"
}
