#!/bin/sh
# Triage time and peak memory on big console logs (docs/benchmarks.md): a clean boot log and
# sysrq dumps repeated to SIZE_MB, a real crash report at the end, at 25, 50 and 100 MB so the
# growth shows whether the scan is linear.  bench/triage-big.sh [build/bin/faultbox]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
faultbox=${1:-$here/../build/bin/faultbox}
corpus=$here/../tests/data/console
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# One chunk of noise: everything in the corpus that is no crash, plus generic headers a driver
# might print (they must each cost the look-ahead and still not count).
printf '[    1.000000] WARNING: driver said something\n[    1.000001] BUG: not a report\n' > "$tmp/chunk"
for f in clean-boot-dmesg.log failslab-verbose.log oom-kill.log; do grep -v '^# ' "$corpus/$f"; done >> "$tmp/chunk"
for mb in 25 50 100; do
  : > "$tmp/log"
  while [ "$(stat -c %s "$tmp/log")" -lt $((mb * 1024 * 1024)) ]; do cat "$tmp/chunk" "$tmp/chunk" "$tmp/chunk" "$tmp/chunk" >> "$tmp/log"; done
  grep -v '^# ' "$corpus/lkdtm-bug.log" >> "$tmp/log"
  /usr/bin/time -f "%e s %M KiB" -o "$tmp/time" "$faultbox" triage "$tmp/log" > "$tmp/out"
  printf '%4d MB: %s -> %s\n' "$mb" "$(cat "$tmp/time")" "$(head -1 "$tmp/out")"
done
