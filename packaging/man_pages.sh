#!/usr/bin/env bash
# Generates the man pages at build time from what faultbox itself says, so they cannot drift
# from --help: faultbox(1) and one faultbox-SUB(1) per subcommand (nested ones too, e.g.
# faultbox-kernel-build(1)) through help2man, and faultbox-scenario(5) from the scenario schema
# (`faultbox check --schema`, the tables of docs/scenarios.md) through schema_to_man.awk.
#   man_pages.sh FAULTBOX OUTDIR
set -euo pipefail
fb=$1 out=$2
here=$(dirname "$0")
version=$("$fb" --version | head -n1)
mkdir -p "$out/man1" "$out/man5"
rm -f "$out"/man1/*.1 "$out"/man5/*.5

# help2man runs "PROGRAM --help"; a subcommand is the program "faultbox SUB ..." (a wrapper
# script, as help2man takes one word). --no-info: Debian has no info pages for it.
page() {  # page NAME DESCRIPTION SUBCOMMAND...
  local name=$1 desc=$2
  shift 2
  local wrapper
  wrapper=$(mktemp)
  printf '#!/bin/sh\nexec "%s" %s "$@"\n' "$fb" "$*" >"$wrapper"
  chmod +x "$wrapper"
  help2man --no-info --version-string="$version" --name="$desc" \
    --include="$here/man_see_also.h2m" --output="$out/man1/$name.1" "$wrapper"
  rm -f "$wrapper"
  # help2man names the page after the wrapper and the command after --version's "faultbox":
  # the page's own name in its header and NAME line (what man -k and apropos read).
  sed -i -e "1,/^\.TH/ s/^\.TH [^ ]*/.TH ${name^^}/" -e "/^\.SH NAME/{n;s/^[^ ]* \\\\-/$name \\\\-/}" "$out/man1/$name.1"
}

# Subcommands, their descriptions and nesting, from the CLI definitions.
walk() {  # walk PATH...
  local kind sub
  while read -r kind sub; do
    [[ $kind == sub ]] || continue
    local desc
    desc=$("$fb" "$@" "$sub" --help | head -n1)
    page "faultbox-$(IFS=-; echo "$*${*:+-}$sub")" "$desc" "$@" "$sub"
    walk "$@" "$sub"
  done < <("$fb" __complete words "$@")
}

page faultbox "fault-injection experiments against a Linux kernel in a throw-away VM"
walk
"$fb" check --schema | awk -v version="$version" -f "$here/schema_to_man.awk" >"$out/man5/faultbox-scenario.5"
