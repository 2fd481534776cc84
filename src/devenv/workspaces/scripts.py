"""The POSIX ``sh`` scripts workspaces run on a target (docs/workspaces.md). Each is run as
an argv, ``sh -c SCRIPT sh ARG...``: values arrive as positional parameters and are never
pasted into code. They need ``git`` and POSIX tools; ``flock`` where the target has it.

Output meant for devenv is NUL-separated (``-z`` forms of git's output): file names may hold
newlines, and a name cannot hold a NUL.
"""

from __future__ import annotations

# Every script starts here: strict, and ``~/`` at the front of a path argument expanded
# (the runtime quotes arguments, so the target's shell would not).
PREAMBLE = r"""set -eu
home() { case $1 in "~") printf '%s' "$HOME";; "~/"*) printf '%s/%s' "$HOME" "${1#"~/"}";;
  *) printf '%s' "$1";; esac; }
"""

# Prepare a target: the workspace root (exit 20 when it cannot be made) and the bare
# repository the project is synced into, made once under the sync lock (in the object format
# GIT_DEFAULT_HASH names). Prints: the absolute root, "flock" or "noflock" (whether the
# target has flock, the sync lock), the repository's object format, then whether anything
# was synced there yet ("synced" or "empty"). Args: root.
PREPARE = PREAMBLE + r"""
root=$(home "$1")
mkdir -p "$root/.devenv/tmp" || exit 20
root=$(cd "$root" && pwd -P)
repo=$root/.devenv/repo.git
printf '%s\n' "$root"
if command -v flock >/dev/null 2>&1; then lock=flock; else lock=noflock; fi
echo $lock
if [ ! -f "$repo/HEAD" ]; then
  if [ $lock = flock ]; then exec 9>>"$root/.devenv/sync.lock"; flock -w 120 9; fi
  if [ ! -f "$repo/HEAD" ]; then
    git init -q --bare "$repo"
    # Workspaces borrow its objects (alternates): nothing here may be pruned.
    git --git-dir="$repo" config gc.auto 0
    git --git-dir="$repo" config gc.pruneExpire never
    git --git-dir="$repo" config core.logAllRefUpdates true
  fi
  exec 9>&-
fi
case $(git --git-dir="$repo" rev-parse --show-object-format 2>/dev/null) in
  sha256) echo sha256;; *) echo sha1;; esac
if [ -n "$(git --git-dir="$repo" for-each-ref --count=1 refs/devenv/sync)" ]
then echo synced; else echo empty; fi
"""

# PREPARE, then another script, in one trip (the first step of a command on a target).
# Args: PREPARE's code, the root, then the script's code and its arguments. Prints what
# PREPARE prints, a line PREPARED_MARK, then what the script prints.
PREPARED_MARK = ":devenv-prepared:"
PREPARED = r"""
code=$1; root=$2; shift 2
sh -c "$code" sh "$root" || exit $?
echo :devenv-prepared:
code=$1; shift
exec sh -c "$code" sh "$@"
"""

# The first sync into an empty repository: a tar on stdin holding "pack" and "idx" (a pack
# of the project's refs and its index, made on the host) and "refs" (update-ref --stdin
# lines). It is unpacked beside the repository, then moved into place under the lock: the
# pack first, its index last (git sees a pack by its index: whole or not at all), then the
# refs in one transaction. Seeds that died (an hour old) are removed first. Args: root, the
# pack's id.
SEED = PREAMBLE + r"""
root=$(home "$1"); id=$2
repo=$root/.devenv/repo.git
case $id in *[!0-9a-f]*|"") echo "bad pack id" >&2; exit 2;; esac
find "$root/.devenv/tmp" -maxdepth 1 -name 'seed-*' -mmin +60 -exec rm -rf {} + \
  2>/dev/null || true
tmp=$(mktemp -d "$root/.devenv/tmp/seed-XXXXXXXX")
trap 'rm -rf "$tmp"' EXIT
tar -xf - -C "$tmp"
for f in pack idx refs; do [ -f "$tmp/$f" ] || { echo "no $f in the seed" >&2; exit 1; }; done
if command -v flock >/dev/null 2>&1; then
  exec 9>>"$root/.devenv/sync.lock"; flock -w 300 9
  # A pack a minute old without its index is a seed killed between the two moves (under
  # the lock nothing else is half-installed): it goes.
  find "$repo/objects/pack" -name 'pack-*.pack' -mmin +1 | while read -r p; do
    [ -f "${p%.pack}.idx" ] || rm -f "$p"; done
fi
mv -f "$tmp/pack" "$repo/objects/pack/pack-$id.pack"
mv -f "$tmp/idx" "$repo/objects/pack/pack-$id.idx"
git --git-dir="$repo" update-ref --stdin < "$tmp/refs"
"""

# Repair after a failed sync, under the lock: ref lock files and push quarantines left by a
# killed receive-pack (older than a minute: a live git holds its locks for milliseconds).
# Args: root.
REPAIR = PREAMBLE + r"""
root=$(home "$1"); repo=$root/.devenv/repo.git
[ -d "$repo" ] || exit 0
if command -v flock >/dev/null 2>&1; then exec 9>>"$root/.devenv/sync.lock"; flock -w 120 9; fi
find "$repo/refs" "$repo/packed-refs.lock" "$repo/HEAD.lock" "$repo/config.lock" \
  -name '*.lock' -type f -mmin +1 -exec rm -f {} + 2>/dev/null || true
find "$repo/objects" -maxdepth 1 -name 'incoming-*' -mmin +1 -exec rm -rf {} + \
  2>/dev/null || true
git --git-dir="$repo" fsck --connectivity-only --no-progress >/dev/null 2>&1 || exit 3
"""

# Run a command on the target under the sync lock (when the target has flock).
# Args: root, then the command's argv.
LOCKED = PREAMBLE + r"""
root=$(home "$1"); shift
if command -v flock >/dev/null 2>&1; then exec 9>>"$root/.devenv/sync.lock"; flock -w 120 9; fi
"$@"
"""

# Create a workspace: a repository of its own borrowing the synced repository's objects
# (alternates), its branch at COMMIT; built under .devenv/tmp and renamed into place, so a
# failure leaves nothing half-made. The project's branches are its origin's (fetched from
# the staged refs). Args: root, name, branch ("" = detached), commit. Exit 17: exists;
# 19: the commit is not there (a sync first).
CREATE = PREAMBLE + r"""
root=$(home "$1"); name=$2; branch=$3; commit=$4
repo=$root/.devenv/repo.git; dir=$root/$name
if [ -e "$dir" ] || [ -L "$dir" ]; then echo "$dir exists" >&2; exit 17; fi
git --git-dir="$repo" cat-file -e "$commit^{commit}" 2>/dev/null || {
  echo "$commit is not there yet" >&2; exit 19; }
tmp=$(mktemp -d "$root/.devenv/tmp/new-XXXXXXXX")
trap 'rm -rf "$tmp"' EXIT
git init -q "$tmp"
printf '%s/objects\n' "$repo" > "$tmp/.git/objects/info/alternates"
cd "$tmp"
git config remote.origin.url "$repo"
cat >> .git/config <<'EOF'
[remote "origin"]
	fetch = +refs/devenv/sync/heads/*:refs/remotes/origin/*
	fetch = refs/devenv/sync/tags/*:refs/tags/*
	tagOpt = --no-tags
[core]
	logAllRefUpdates = true
EOF
git fetch -q origin || true
if [ -n "$branch" ]; then git checkout -q -b "$branch" "$commit"
else git checkout -q --detach "$commit"; fi
# Where it started stays referenced in the synced repository, whatever the project prunes.
git --git-dir="$repo" update-ref "refs/devenv/start/$name" "$commit"
cd /
mv "$tmp" "$dir"
trap - EXIT
"""

# Whether a workspace's checkout is there: "yes", "files" (files, but no .git) or "no".
# Args: dir.
EXISTS = PREAMBLE + r"""
d=$(home "$1")
if [ -e "$d/.git" ]; then echo yes
elif [ -d "$d" ] && [ -n "$(ls -A "$d" 2>/dev/null)" ]; then echo files
else echo no; fi
"""

# What in a workspace is not saved anywhere else, NUL-separated in sections:
#   head, branch, then "@status" + git status -z, "@commits" + commits (id and subject)
#   reachable from HEAD or the workspace branch and from no branch of the project (or
#   remote-tracking branch), "@stash" + stash entries.
# Args: dir, project ref glob ("" = the repository is the project's own: a local worktree,
# whose own branch does not count as saved), workspace branch ref, stash ("all", or
# "branch": only entries made on the workspace branch, the stash being the project's),
# synced repository to refresh the project's refs from ("" = none).
STATUS = PREAMBLE + r"""
dir=$(home "$1"); project=$2; wsbranch=$3; stash=$4; repo=$5
cd "$dir"
if [ -n "$repo" ]; then
  git fetch -q --no-tags --prune "$(home "$repo")" \
    '+refs/devenv/sync/heads/*:refs/devenv/project/heads/*' \
    '+refs/devenv/sync/tags/*:refs/devenv/project/tags/*' \
    '+refs/devenv/sync/remotes/*:refs/devenv/project/remotes/*' 2>/dev/null || true
fi
head=$(git rev-parse -q --verify 'HEAD^{commit}') || head=
branch=$(git symbolic-ref -q HEAD) || branch=
printf '%s\0%s\0@status\0' "$head" "$branch"
git status --porcelain=v1 -z --untracked-files=all --ignore-submodules=none
printf '@commits\0'
set --
[ -z "$head" ] || set -- HEAD
if [ -n "$wsbranch" ] && git rev-parse -q --verify "$wsbranch^{commit}" >/dev/null; then
  set -- "$@" "$wsbranch"; fi
if [ $# -gt 0 ]; then
  if [ -n "$project" ]; then  # the workspace's own repository: every branch and tag of it
    git log -z --format='%H %s' -n 1000 "$@" --branches --tags --not --remotes \
      --glob="$project"
  else
    git log -z --format='%H %s' -n 1000 "$@" --not --exclude="${wsbranch#refs/heads/}" \
      --branches --remotes
  fi
fi
printf '\0@stash\0'
if [ "$stash" = all ]; then git log -z -g --format='%H %gs' refs/stash 2>/dev/null || true
elif [ "$stash" = branch ] && [ -n "$wsbranch" ]; then
  git log -g --format='%H %gs' refs/stash 2>/dev/null | while read -r id subject; do
    case $subject in *" on ${wsbranch#refs/heads/}: "*|*"On ${wsbranch#refs/heads/}: "*)
      printf '%s %s\0' "$id" "$subject";; esac; done || true
fi
printf '\0@end\0'
"""

# STATUS for several workspaces in one trip, four at a time. Args: STATUS's code, the
# project ref glob, the stash mode, the synced repository, then "dir branch" pairs (STATUS's
# other arguments). Prints, for each in turn: a line "EXIT SIZE", then SIZE bytes: STATUS's
# output, or on failure the last line it wrote to stderr.
STATUS_EACH = PREAMBLE + r"""
code=$1; project=$2; stash=$3; repo=$4; shift 4
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
one() {
  rc=0
  sh -c "$code" sh "$2" "$project" "$3" "$stash" "$repo" > "$tmp/o$1" 2> "$tmp/e$1" || rc=$?
  [ "$rc" = 0 ] || tail -n 1 "$tmp/e$1" > "$tmp/o$1"
  echo "$rc" > "$tmp/r$1"
}
n=0
while [ $# -ge 2 ]; do
  n=$((n+1)); one "$n" "$1" "$2" &
  [ $((n % 4)) != 0 ] || wait
  shift 2
done
wait
i=1
while [ $i -le $n ]; do
  printf '%s %s\n' "$(cat "$tmp/r$i")" "$(wc -c < "$tmp/o$i")"
  cat "$tmp/o$i"
  i=$((i+1))
done
"""

# The workspace's commits since BASE and everything that changed since (committed or not,
# untracked files included), through a copy of the index. Args: dir, base, stat (1/0).
DIFF = PREAMBLE + r"""
dir=$(home "$1"); base=$2; stat=$3
cd "$dir"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
idx=$(git rev-parse --git-path index)
if [ -f "$idx" ]; then cp -p "$idx" "$tmp/index"; fi
n=$(git rev-list --count "$base..HEAD")
printf '# %s commit(s) since %s\n' "$n" "$(git rev-parse --short "$base")"
git log --no-color --format='%h %s' "$base..HEAD"
printf '# changes since %s, committed or not (untracked files included)\n' \
  "$(git rev-parse --short "$base")"
export GIT_INDEX_FILE="$tmp/index"
git add -A .
if [ "$stat" = 1 ]; then git diff --cached --no-color --no-ext-diff --stat "$base"
else git diff --cached --no-color --no-ext-diff "$base"; fi
"""

# Remove a workspace directory, only when it resolves to ROOT/NAME itself: moved into the
# root's trash first (at once gone from its place), then removed there. Args: root, name.
REMOVE = PREAMBLE + r"""
root=$(home "$1"); name=$2
root=$(cd "$root" && pwd -P); dir=$root/$name
[ -e "$dir" ] || [ -L "$dir" ] || exit 0
if [ -L "$dir" ]; then echo "$dir is a symbolic link; not removed" >&2; exit 19; fi
real=$(cd "$dir" && pwd -P)
if [ "$real" != "$dir" ]; then echo "$dir resolves to $real; not removed" >&2; exit 19; fi
trash=$(mktemp -d "$root/.devenv/tmp/gone-XXXXXXXX")
mv "$dir" "$trash/"
rm -rf "$trash"
"""

# The workspaces under ROOT (directory names), NUL-separated. Args: root.
LIST = PREAMBLE + r"""
root=$(home "$1")
[ -d "$root" ] || exit 0
cd "$root"
for d in *; do [ -d "$d/.git" ] && printf '%s\0' "$d"; done; true
"""

# Put CHANGES (a commit on the workspace's HEAD) into the working tree as uncommitted
# changes: files as in it, the index back at HEAD (new files untracked). Args: dir, changes.
APPLY = PREAMBLE + r"""
dir=$(home "$1"); changes=$2
cd "$dir"
git read-tree -u -m HEAD "$changes^{tree}"
git reset -q
"""

# The synced repository's refs (id and name per line), for a bundle built against what the
# target has. Args: root.
SYNCED_REFS = PREAMBLE + r"""
root=$(home "$1")
git --git-dir="$root/.devenv/repo.git" for-each-ref --format='%(objectname) %(refname)' \
  refs/devenv/sync
"""

# Sync from a bundle (where git push cannot run), under the lock: the project's refs are
# fetched from it into the staged namespace (pruned), then the named refs set.
# Args: root, bundle, then "ID REF" words for refs to set.
UNBUNDLE = PREAMBLE + r"""
root=$(home "$1"); bundle=$(home "$2"); shift 2
repo=$root/.devenv/repo.git
if command -v flock >/dev/null 2>&1; then exec 9>>"$root/.devenv/sync.lock"; flock -w 300 9; fi
trap 'rm -f "$bundle"' EXIT
git --git-dir="$repo" bundle verify -q "$bundle" >/dev/null
git --git-dir="$repo" fetch -q --prune "$bundle" \
  '+refs/heads/*:refs/devenv/sync/heads/*' '+refs/tags/*:refs/devenv/sync/tags/*' \
  '+refs/remotes/*:refs/devenv/sync/remotes/*'
for pair in "$@"; do git --git-dir="$repo" update-ref "${pair#* }" "${pair%% *}"; done
"""

# The processes working in a workspace (their working directory in it), "PID NAME" lines:
# a delete or restore would take from under them what they write after its snapshot.
# Args: dir.
BUSY = PREAMBLE + r"""
dir=$(home "$1")
[ -d /proc ] || exit 0
for p in /proc/[0-9]*; do
  cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
  case $cwd in "$dir"|"$dir"/*)
    comm=$(cat "$p/comm" 2>/dev/null) || continue
    case $comm in "tmux: server") continue;; esac  # started there, serves every session
    [ "${p#/proc/}" = "$$" ] || printf '%s %s\n' "${p#/proc/}" "$comm";;
  esac
done
"""
