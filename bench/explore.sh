#!/usr/bin/env bash
# `faultbox explore` of two small workloads: run count, wall time, discovery time, VMs booted
# and replaced, and the median per-run overhead of a warm VM against the median boot.
#   bench/explore.sh [JOBS]      (default 1; needs scripts/build and a built kernel)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${1:-1}
fb=${FAULTBOX:-$PWD/build/bin/faultbox}  # FAULTBOX=... for another build dir
work=$(mktemp -d /tmp/faultbox-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
export XDG_RUNTIME_DIR=$work/rt XDG_STATE_HOME=$work/state
mkdir -p "$XDG_RUNTIME_DIR"

one() {
  local name=$1; shift
  "$fb" -q explore --jobs "$jobs" --out "$work/$name" -- "$@" > /dev/null
  python3 - "$work/$name/explore.json" "$name" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
c = {k: v for k, v in j["counts"].items() if v}
print(f'{sys.argv[2]}: {len(j["runs"])} runs in {j["wall_s"]:.1f} s (discovery {j["discovery"]["wall_s"]:.1f} s: '
      f'{j["discovery"]["nth_sites"]} nth sites, {len(j["discovery"]["functions"])} functions); '
      f'VMs booted {j["vms"]["booted"]}, replaced {j["vms"]["replaced"]}; boot {j["vms"]["boot_s_median"]:.2f} s, '
      f'per-run overhead {j["vms"]["run_overhead_s_median"]:.3f} s (medians); {c}')
PY
}

one mkdir mkdir /tmp/x
one file-write dd if=/dev/zero of=/tmp/f bs=4096 count=4 conv=fsync
