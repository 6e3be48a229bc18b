#!/usr/bin/env bash
# Boot-to-hello of faultbox against a bare QEMU boot of the same kernel to a busybox /init
# that prints one line and reboots, same accelerator, runs interleaved, medians reported.
#   bench/boot.sh [RUNS]        (default 7; needs scripts/build and a built kernel)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
fb=build/bin/faultbox
kernel=$($fb -q kernel path)
work=$(mktemp -d /tmp/faultbox-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

# The bare image: busybox and a 4-line /init, no agent, nothing else.
mkdir -p "$work/root/bin" "$work/root/dev"
cp /bin/busybox "$work/root/bin/busybox"
cat > "$work/root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t devtmpfs dev /dev
echo BARE-INIT-OK > /dev/console
/bin/busybox reboot -f
INIT
chmod +x "$work/root/init"
(cd "$work/root" && find . | cpio -o -H newc --quiet > "$work/bare.cpio")

# Use whatever accelerator faultbox picks, for both.
accel=$($fb exec -- true 2>&1 | sed -n 's/^faultbox: accel: \(kvm\|tcg\).*/\1/p')
case $accel in kvm) machine=(-machine pc -accel kvm -cpu host) ;; *) machine=(-machine pc -accel tcg -cpu max) ;; esac

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

: > "$work/bare_line"; : > "$work/bare_total"; : > "$work/fb_hello"; : > "$work/fb_total"
for ((i = 0; i < runs; i++)); do
  t0=$(now_ms)
  qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot "${machine[@]}" -m 256 \
      -kernel "$kernel" -initrd "$work/bare.cpio" -append "console=ttyS0 loglevel=5 panic=-1" -serial stdio \
      2>&1 | while IFS= read -r line; do
        case $line in *BARE-INIT-OK*) echo $(( $(now_ms) - t0 )) >> "$work/bare_line" ;; esac
      done
  echo $(( $(now_ms) - t0 )) >> "$work/bare_total"

  t0=$(now_ms)
  out=$($fb exec -- true 2>&1)
  echo $(( $(now_ms) - t0 )) >> "$work/fb_total"
  echo "$out" | sed -n 's/^faultbox: vm: up in \([0-9.]*\) s.*/\1/p' | awk '{print int($1 * 1000)}' >> "$work/fb_hello"
done

bare_line=$(median < "$work/bare_line"); bare_total=$(median < "$work/bare_total")
fb_hello=$(median < "$work/fb_hello"); fb_total=$(median < "$work/fb_total")
ratio=$(awk -v a="$fb_hello" -v b="$bare_line" 'BEGIN {printf "%.2f", a / b}')
ratio_total=$(awk -v a="$fb_total" -v b="$bare_total" 'BEGIN {printf "%.2f", a / b}')
echo "machine: $(nproc) cpus, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//'), $(uname -r), $($fb -q doctor | sed -n 's/^qemu: *//p' | cut -d'(' -f2 | tr -d ')')"
echo "kernel: $kernel ($(stat -c %s "$kernel") bytes), accel: $accel, runs: $runs (medians)"
echo "| measure | bare busybox /init | faultbox | ratio |"
echo "|---|---|---|---|"
echo "| QEMU start -> init line / agent hello | ${bare_line} ms | ${fb_hello} ms | ${ratio} |"
echo "| whole run (boot, command, VM gone) | ${bare_total} ms | ${fb_total} ms | ${ratio_total} |"
