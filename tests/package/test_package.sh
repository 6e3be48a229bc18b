#!/usr/bin/env bash
# vm: package — faultbox as a user gets it: the .deb built by cpack, unpacked into a throw-away
# root (dpkg -x; nothing is installed on this machine) and run from there with no path into
# the build or source tree: --version, check and three real runs (pass, fail, crash) whose
# --ktap output the kernel's own kunit_parser.py reads; bash completion loaded the way
# bash-completion finds it; the man pages rendered by man; a second install under another
# prefix through DESTDIR staging.
#   test_package.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(realpath "$1") src=$(realpath "$2")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# Output captured before it is searched: `producer | grep -q` under pipefail fails whenever grep
# exits at its first match while the producer still writes (SIGPIPE).
has() { grep -q "$@"; }
for tool in cpack dpkg-deb apt-get man /usr/bin/python3 xz; do
  command -v "$tool" >/dev/null || fail "$tool is missing (scripts/setup installs it)"
done
[[ -f /usr/share/bash-completion/bash_completion ]] || fail "bash-completion is missing (scripts/setup installs it)"

echo "== cpack -G DEB"
t0=$SECONDS
(cd "$build" && cpack -G DEB -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1) || { cat "$tmp/cpack.log"; fail "cpack"; }
deb=$(ls "$tmp"/pkg/faultbox_*_amd64.deb)
echo "built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB) in $((SECONDS - t0)) s"
depends=$(dpkg-deb -f "$deb" Depends)
for need in qemu-system-x86 qemu-utils busybox-static libguestfs0 linux-source-6.1; do
  [[ $depends == *"$need"* ]] || fail "Depends lacks $need: $depends"
done
# Every dependency resolves from this machine's Debian archive (a simulation: nothing installed).
apt-get install -s "$deb" >"$tmp/apt.log" 2>&1 || { tail -n 20 "$tmp/apt.log"; fail "apt-get install -s $deb"; }

root=$tmp/root
dpkg-deb -x "$deb" "$root"
fb=$root/usr/bin/faultbox
for f in usr/bin/faultbox usr/libexec/faultbox/faultbox-agent usr/share/faultbox/kconfigs/base.config \
         usr/share/doc/faultbox/examples/failslab-one-task.toml usr/share/doc/faultbox/scenarios.md \
         usr/share/man/man1/faultbox.1 usr/share/man/man1/faultbox-run.1 usr/share/man/man1/faultbox-kernel-build.1 \
         usr/share/man/man5/faultbox-scenario.5 usr/share/bash-completion/completions/faultbox; do
  [[ -f $root/$f ]] || fail "the package lacks /$f"
done
agent_ldd=$(ldd "$root/usr/libexec/faultbox/faultbox-agent" 2>&1 || true)  # ldd exits 1 on a static binary
[[ $agent_ldd == *"not a dynamic executable"* ]] || fail "the packaged agent is not static: $agent_ldd"
# Nothing may point faultbox back into the build tree.
unset FAULTBOX_AGENT FAULTBOX_KCONFIG_DIR FAULTBOX_BIN FAULTBOX_AGENT_BIN

echo "== faultbox --version"
"$fb" --version | tee "$tmp/version"
grep -qx "faultbox [0-9.]*" <(head -n1 "$tmp/version") || fail "--version: no version line"
grep -q "^git commit: [0-9a-f]\{12\}" "$tmp/version" || fail "--version: no git commit"
grep -qx "protocol: [0-9]*" <(sed -n 3p "$tmp/version") || fail "--version: no protocol version"
grep -q "^compiler: " "$tmp/version" || fail "--version: no compiler"

echo "== doctor names the installed data dir"
"$fb" doctor --no-guestfs >"$tmp/doctor" || true  # a problem elsewhere (no KVM...) is not this test's
grep -qx "data: *$root/usr/share/faultbox" "$tmp/doctor" || { cat "$tmp/doctor"; fail "doctor's data dir"; }
grep -qx "agent: *$root/usr/libexec/faultbox/faultbox-agent" "$tmp/doctor" || { cat "$tmp/doctor"; fail "doctor's agent"; }

echo "== check and run from the installed files"
examples=$root/usr/share/doc/faultbox/examples
"$fb" check "$examples/failslab-one-task.toml"
# The installed kconfigs are the fragments the cached kernel was built from: same kernel.
"$fb" kernel path >/dev/null || fail "the installed faultbox does not find the cached kernel (scripts/test builds it)"
cat >"$tmp/fails.toml" <<'TOML'
name = "a step that fails its expectation"
[[step]]
name = "fails"
run = "false"
expect_exit = 0
TOML
run() {  # run NAME EXPECTED_EXIT SCENARIO
  local rc=0
  "$fb" run --ktap --keep-artifacts "$tmp/evidence-$1" "$3" >"$tmp/$1.ktap" 2>"$tmp/$1.report" || rc=$?
  [[ $rc == "$2" ]] || { cat "$tmp/$1.report"; fail "run $1: exit $rc, expected $2"; }
  grep -q "^verdict: " "$tmp/$1.report" || fail "run $1: the report is not on stderr"
  [[ $(head -n1 "$tmp/$1.ktap") == "KTAP version 1" ]] || fail "run $1: stdout is not KTAP"
}
t0=$SECONDS
run pass 0 "$examples/failslab-one-task.toml"
echo "pass run: $((SECONDS - t0)) s"
run fail 1 "$tmp/fails.toml"
run crash 3 "$src/tests/data/scenarios/vm/unexpected-crash.toml"

echo "== kunit_parser.py (linux-source-6.1) reads the KTAP"
tarball=/usr/src/linux-source-6.1.tar.xz
[[ -f $tarball ]] || fail "$tarball is missing (scripts/setup installs linux-source-6.1)"
tar -xJf "$tarball" -C "$tmp" --wildcards 'linux-source-6.1/tools/testing/kunit/*.py'
kunit=$tmp/linux-source-6.1/tools/testing/kunit
for r in pass fail crash; do
  /usr/bin/python3 "$src/tests/package/kunit_results.py" "$kunit" "$tmp/$r.ktap" "$tmp/$r.json"
done
/usr/bin/python3 - "$tmp" <<'PY'
import json, sys
d = sys.argv[1]
def load(name):
    main = json.load(open(f"{d}/{name}.json"))
    assert main["counts"]["errors"] == 0, f"{name}: the parser reported errors: {main}"
    assert len(main["subtests"]) == 1, f"{name}: one test per scenario: {main}"
    sc = main["subtests"][0]
    return main, sc, {s["name"]: s for s in sc["subtests"]}
def status(subs, name):
    assert name in subs, f"no subtest {name!r} in {list(subs)}"
    return subs[name]["status"]

main, sc, subs = load("pass")
assert main["status"] == "SUCCESS" and sc["status"] == "SUCCESS", main
assert sc["name"] == "failslab fails only the marked task", sc["name"]
for name in ["step marked", "step unmarked", "fault failslab fired", "kernel no-crash", "verdict"]:
    assert status(subs, name) == "SUCCESS", (name, subs[name])
assert sc["counts"]["passed"] == len(subs) and sc["counts"]["failed"] == 0, sc["counts"]
assert any("fault failslab (failslab): fired" in l for l in subs["fault failslab fired"]["log"]), subs["fault failslab fired"]
print(f"pass: {sc['name']}: {sc['counts']['passed']} subtests ok")

main, sc, subs = load("fail")
assert main["status"] == "FAILURE" and sc["status"] == "FAILURE", main
assert status(subs, "step fails") == "FAILURE" and status(subs, "verdict") == "FAILURE", subs
assert status(subs, "kernel no-crash") == "SUCCESS", subs
assert sc["counts"]["failed"] == 2, sc["counts"]
print(f"fail: {sc['name']}: {sc['counts']}")

main, sc, subs = load("crash")
assert main["status"] == "FAILURE" and sc["status"] == "FAILURE", main
assert status(subs, "kernel no-crash") == "FAILURE" and status(subs, "verdict") == "FAILURE", subs
assert any(l.strip().startswith("# crash: ") for l in subs["kernel no-crash"]["log"]), subs["kernel no-crash"]
assert any("verdict: kernel-crash" in l or "verdict: crash" in l for l in subs["verdict"]["log"]), subs["verdict"]
print(f"crash: {sc['name']}: {[l.strip() for l in subs['kernel no-crash']['log'] if 'crash:' in l][0]}")
PY

echo "== bash completion, loaded where bash-completion looks for it"
mkdir -p "$tmp/cwd" && touch "$tmp/cwd/mine.toml" "$tmp/cwd/other.txt"
complete_words() {  # complete_words WORD... : what <TAB> offers after these words (the last is completed)
  (cd "$tmp/cwd" && PATH="$root/usr/bin:$PATH" XDG_DATA_DIRS="$root/usr/share" bash --norc --noprofile -c '
    source /usr/share/bash-completion/bash_completion
    _completion_loader faultbox
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
    $(complete -p faultbox | sed -n "s/.*-F \([^ ]*\) .*/\1/p") faultbox "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf "%s\n" "${COMPREPLY[@]}"' _ "$@")
}
loaded=$(cd "$tmp/cwd" && PATH="$root/usr/bin:$PATH" XDG_DATA_DIRS="$root/usr/share" bash --norc --noprofile -c \
  'source /usr/share/bash-completion/bash_completion; _completion_loader faultbox; complete -p faultbox')
[[ $loaded == "complete -F _faultbox faultbox" ]] || fail "bash-completion did not load the installed script: $loaded"
[[ $(complete_words faultbox ru) == run ]] || fail "faultbox ru<TAB>: $(complete_words faultbox ru)"
has -x -- --ktap <<<"$(complete_words faultbox run --k)" || fail "faultbox run --k<TAB> lacks --ktap"
[[ $(complete_words faultbox run "") == mine.toml ]] || fail "faultbox run <TAB>: $(complete_words faultbox run "")"
[[ $(complete_words faultbox kernel b) == build ]] || fail "faultbox kernel b<TAB>"
has -x fail_function <<<"$(complete_words faultbox check --fault fail_f)" || fail "faultbox check --fault fail_f<TAB>"
has -x failslab <<<"$(complete_words faultbox check --fault "")" || fail "faultbox check --fault <TAB> lacks failslab"
# The cached kernel's error-injection list is known since the runs above booted it.
has -x should_failslab <<<"$(complete_words faultbox kernel injectable should_fails)" ||
  fail "faultbox kernel injectable should_fails<TAB>: $(complete_words faultbox kernel injectable should_fails)"

# What the completion completes: one fault type's keys, and injectable functions by name.
has '^| `probability` | integer' <<<"$("$fb" check --fault failslab)" || fail "check --fault failslab lacks probability"
rc=0; err=$("$fb" check --fault no_such_type 2>&1 >/dev/null) || rc=$?
[[ $rc == 2 && $err == *"no such fault type"* && $(wc -l <<<"$err") == 1 ]] || fail "check --fault no_such_type: exit $rc: $err"
[[ $("$fb" kernel injectable should_failslab) == $'should_failslab\tERRNO' ]] || fail "kernel injectable should_failslab"
rc=0; "$fb" kernel injectable no_such_function >/dev/null 2>&1 || rc=$?
[[ $rc == 1 ]] || fail "kernel injectable no_such_function: exit $rc, expected 1"

echo "== man pages"
for page in faultbox faultbox-run faultbox-kernel-injectable; do
  has "^SYNOPSIS\|^DESCRIPTION" <<<"$(MANPATH=$root/usr/share/man man "$page" 2>/dev/null)" || fail "man $page does not render"
done
has -- "--ktap" <<<"$(MANPATH=$root/usr/share/man man faultbox-run 2>/dev/null)" || fail "man faultbox-run lacks --ktap"
has "expect_exit" <<<"$(MANPATH=$root/usr/share/man man 5 faultbox-scenario 2>/dev/null)" || fail "man 5 faultbox-scenario lacks expect_exit"

echo "== cmake --install with another prefix, DESTDIR staging"
DESTDIR=$tmp/stage cmake --install "$build" --prefix /opt/fb >/dev/null
staged=$tmp/stage/opt/fb
"$staged/bin/faultbox" doctor --no-guestfs >"$tmp/doctor2" || true
grep -qx "data: *$staged/share/faultbox" "$tmp/doctor2" || { cat "$tmp/doctor2"; fail "staged doctor's data dir"; }
"$staged/bin/faultbox" kernel path >/dev/null || fail "the staged faultbox does not find the cached kernel"
echo "package: all checks passed"
