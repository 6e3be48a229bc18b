#!/usr/bin/env bash
# Wall time of `faultbox run --repeat R` of three disk-less examples at --jobs 1 and --jobs 2,
# and the host RSS of each QEMU while they run (sampled every 0.2 s, peak per process).
#   bench/jobs.sh [REPEAT]      (default 4: 12 runs; needs scripts/build and a built kernel)
set -euo pipefail
cd "$(dirname "$0")/.."
repeat=${1:-4}
fb=${FAULTBOX:-$PWD/build/bin/faultbox}  # FAULTBOX=... for another build dir
examples=(examples/failslab-one-task.toml examples/fail-futex-wait-efault.toml examples/fail-page-alloc-fork-enomem.toml)
work=$(mktemp -d /tmp/faultbox-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
export XDG_RUNTIME_DIR=$work/rt XDG_STATE_HOME=$work/state  # our QEMUs are the ones whose sockets live here
mkdir -p "$XDG_RUNTIME_DIR"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# Peak RSS (KiB) of every QEMU of this bench, one line per process, until the marker file goes.
sample_rss() {
  declare -A peak
  while [ -e "$work/sampling" ]; do
    for p in $(pgrep -f "qemu-system-x86_64.*$XDG_RUNTIME_DIR" || true); do
      rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
      [ -n "$rss" ] && [ "$rss" -gt "${peak[$p]:-0}" ] && peak[$p]=$rss
    done
    sleep 0.2
  done
  for p in "${!peak[@]}"; do echo "${peak[$p]}"; done
}

for jobs in 1 2; do
  touch "$work/sampling"
  sample_rss > "$work/rss-$jobs" &
  sampler=$!
  t0=$(now_ms)
  "$fb" run "${examples[@]}" --repeat "$repeat" --jobs "$jobs" --json "$work/jobs-$jobs.json" > "$work/out-$jobs" 2>&1 \
    || { cat "$work/out-$jobs"; echo "bench: the --jobs $jobs batch did not pass" >&2; }
  wall=$(( $(now_ms) - t0 ))
  rm -f "$work/sampling"
  wait "$sampler"
  runs=$(grep -c '^\[' "$work/out-$jobs" || true)
  median_run=$(grep '^\[' "$work/out-$jobs" | awk '{print $NF}' | tr -d s | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')
  rss=$(sort -n "$work/rss-$jobs" | awk '{a[NR]=$1} END {if (NR) printf "median %d MiB, max %d MiB over %d QEMUs", a[int((NR+1)/2)]/1024, a[NR]/1024, NR}')
  echo "--jobs $jobs: $runs runs in $(awk -v ms="$wall" 'BEGIN {printf "%.1f", ms/1000}') s wall, median run ${median_run} s; QEMU peak RSS: $rss"
done
