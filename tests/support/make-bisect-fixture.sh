#!/bin/bash
# Makes (once) the synthetic kernel history the bisect tests run against: the extracted
# linux-source-6.1 tree as the first commit, then ten small commits, among them one that
# breaks the build, one that adds an unrelated crash (and its revert), and the culprit, which
# drops getname_flags()'s NULL check so a failslab fault on a marked task oopses.
# Commits are made with fixed authors and dates, so their ids are the same on every machine.
#
# Usage: make-bisect-fixture.sh SOURCE_TREE DEST_ROOT
# Prints the repository's path. DEST_ROOT/<key>/ is published by rename when complete.
set -euo pipefail
src=$(realpath "$1")
root=$2
[ -f "$src/Makefile" ] && [ -f "$src/fs/namei.c" ] || { echo "make-bisect-fixture: $src is not a kernel tree" >&2; exit 2; }
key=$( { sha256sum "$0" | cut -c1-64; echo "$src"; stat -c %s:%Y "$src/Makefile"; } | sha256sum | cut -c1-16)
dest=$root/$key
if [ -f "$dest/.complete" ]; then echo "$dest/linux"; exit 0; fi
mkdir -p "$root"
exec 9>"$root/$key.lock"
flock 9
if [ -f "$dest/.complete" ]; then echo "$dest/linux"; exit 0; fi
tmp=$root/$key.partial
rm -rf "$tmp"
mkdir -p "$tmp"
t0=$(date +%s.%N)
cp -a "$src" "$tmp/linux"
t1=$(date +%s.%N)
cd "$tmp/linux"
export GIT_AUTHOR_NAME="Fixture Author" GIT_AUTHOR_EMAIL="fixture@faultbox.invalid"
export GIT_COMMITTER_NAME="Fixture Author" GIT_COMMITTER_EMAIL="fixture@faultbox.invalid"
n=0
commit() {  # commit MESSAGE [AUTHOR]
  n=$((n + 1))
  export GIT_AUTHOR_DATE="2024-01-01T00:$(printf %02d $n):00Z" GIT_COMMITTER_DATE="2024-01-01T00:$(printf %02d $n):00Z"
  local author=${2:-Fixture Author}
  GIT_AUTHOR_NAME=$author git commit -q --no-verify -m "$1"
}
git init -q -b master .
git config core.fsync none
git config gc.auto 0
git config core.untrackedCache true
git add -A -f .  # the tree's own .gitignore ignores "/*" (a packaged source)
commit "linux-source-6.1 as shipped by Debian"
git tag fixture-good
t2=$(date +%s.%N)

sed -i '1a /* faultbox fixture: a harmless comment */' kernel/fork.c
git add -A; commit "fork: a harmless comment"

sed -i 's/"Run %s as init process\\n"/"Run %s as the init process\\n"/' init/main.c
git add -A; commit "init: say 'the init process'"

# An unrelated crash on the scenario's path: writing 1 to /proc/self/make-it-fail hits a BUG().
perl -0pi -e 's/(\ttask->make_it_fail = make_it_fail;\n)/\tBUG_ON(make_it_fail == 1);\n$1/' fs/proc/base.c
grep -q 'BUG_ON(make_it_fail == 1)' fs/proc/base.c
git add -A; commit "proc: make-it-fail sanity check" "Unrelated Author"
git tag fixture-unrelated

git revert --no-edit HEAD >/dev/null
git commit -q --amend --no-verify -m "Revert \"proc: make-it-fail sanity check\"" --date "2024-01-01T00:05:00Z"
n=$((n + 1))

sed -i 's/^\(void panic(const char \*fmt, ...)\)$/\1 this does not compile/' kernel/panic.c
grep -q 'this does not compile' kernel/panic.c
git add -A; commit "panic: a change that does not build"
git tag fixture-broken

git revert --no-edit HEAD >/dev/null
git commit -q --amend --no-verify -m "Revert \"panic: a change that does not build\"" --date "2024-01-01T00:07:00Z"
n=$((n + 1))

# The culprit: getname_flags() no longer checks __getname()'s result.
perl -0pi -e 's/(\tresult = __getname\(\);\n)\tif \(unlikely\(!result\)\)\n\t\treturn ERR_PTR\(-ENOMEM\);\n/$1/' fs/namei.c
[ "$(grep -c 'return ERR_PTR(-ENOMEM);' fs/namei.c)" -lt "$(git show HEAD:fs/namei.c | grep -c 'return ERR_PTR(-ENOMEM);')" ]
git add -A; commit "namei: names_cache allocations cannot fail" "Culprit Author"
git tag fixture-culprit

sed -i '1a /* faultbox fixture: another harmless comment */' mm/slub.c
git add -A; commit "slub: a harmless comment"

sed -i '1a /* faultbox fixture: a third harmless comment */' kernel/exit.c
git add -A; commit "exit: a harmless comment"
git tag fixture-bad
t3=$(date +%s.%N)
git gc -q --auto || true
printf 'copy %.1f s, first commit %.1f s, ten commits %.1f s\n' "$(echo "$t1-$t0" | bc)" "$(echo "$t2-$t1" | bc)" "$(echo "$t3-$t2" | bc)" >"$tmp/timings"
touch "$tmp/.complete"
rm -rf "$dest"
mv "$tmp" "$dest"
echo "$dest/linux"
