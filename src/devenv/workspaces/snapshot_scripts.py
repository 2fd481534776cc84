"""The POSIX ``sh`` scripts of snapshots on a target (docs/workspaces.md): taking one, and
bringing one back. Run as :mod:`.scripts` runs its own (``sh -c SCRIPT sh ARG...``)."""

from __future__ import annotations

from devenv.workspaces.scripts import PREAMBLE

# Record a workspace's whole state as commits, without touching its index, working tree or
# stash: the index and the working tree (tracked and untracked files, not ignored ones) are
# written through a copy of the index. The snapshot commit's tree is the working tree; its
# parents are HEAD, the index commit, the workspace branch's tip and the stash entries, so
# fetching it brings everything. Prints "nested PATH" for each repository inside it that was
# left out, then the snapshot's id.
# Args: dir, name, branch ref ("" = none), stash (1/0), ref to point at it, base commit.
CAPTURE = PREAMBLE + r"""
dir=$(home "$1"); name=$2; wsbranch=$3; stash=$4; ref=$5; base=$6
cd "$dir"
head=$(git rev-parse -q --verify 'HEAD^{commit}') || { echo "no commit checked out" >&2; exit 18; }
branch=$(git symbolic-ref -q HEAD) || branch=
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
idx=$(git rev-parse --git-path index)
if [ -f "$idx" ]; then cp -p "$idx" "$tmp/index"; fi
export GIT_INDEX_FILE="$tmp/index"
itree=$(git write-tree 2>/dev/null) || itree=
# A repository inside the workspace (a scaffolder's git init, a clone) cannot be part of a
# snapshot (git would record a pointer to its HEAD, or fail without one): left out, named.
printf '.\0' > "$tmp/spec"
find . -path ./.git -prune -o -name .git -exec sh -c 'spec=$1; shift; for g; do
  d=${g%/.git}; d=${d#./}; printf ":(exclude,literal)%s\0" "$d" >> "$spec"
  printf "nested %s\n" "$d"; done' sh-find "$tmp/spec" {} +
# Every file into one pack (bulk check-in: one file written, not one per changed file).
git -c core.bigFileThreshold=1 add -A --pathspec-from-file="$tmp/spec" --pathspec-file-nul
[ -n "$itree" ] || itree=$(git write-tree)  # a merge in conflict: as in the working tree
wtree=$(git write-tree)
unset GIT_INDEX_FILE
icommit=$(git commit-tree "$itree" -p "$head" -m "devenv: index of workspace $name")
tip=
if [ -n "$wsbranch" ]; then tip=$(git rev-parse -q --verify "$wsbranch^{commit}") || tip=; fi
stashes=; refs=
if [ "$stash" = 1 ]; then  # the workspace's own repository: its stash, branches and tags
  stashes=$(git log -g --format=%H refs/stash 2>/dev/null) || stashes=
  f='%(objecttype):%(*objecttype):%(objectname):%(*objectname):%(refname)'
  refs=$(git for-each-ref --format="$f" refs/heads refs/tags | while IFS=: read -r t1 t2 o1 o2 r
    do if [ "$t1" = commit ]; then echo "$o1 $r"; elif [ "$t2" = commit ]; then echo "$o2 $r"; fi
    done)
fi
msg="devenv snapshot of workspace $name

head: $head
branch: $branch
wsbranch: $wsbranch
index: $icommit
tip: $tip
base: $base"
set -- -p "$head" -p "$icommit"
[ -z "$tip" ] || [ "$tip" = "$head" ] || set -- "$@" -p "$tip"
seen=" $head $icommit $tip "
for s in $stashes; do set -- "$@" -p "$s"; seen="$seen$s "; msg="$msg
stash: $s"; done
if [ -n "$refs" ]; then
  while read -r id r; do
    case $seen in *" $id "*) ;; *) set -- "$@" -p "$id"; seen="$seen$id ";; esac
    msg="$msg
ref: $id $r"
  done <<EOF_REFS
$refs
EOF_REFS
fi
snap=$(printf '%s\n' "$msg" | git commit-tree "$wtree" "$@")
if [ "$stash" = 1 ]; then git update-ref "$ref" "$snap"  # the target's own pointer
else git update-ref "$ref" "$snap" ""; fi  # a snapshot ref here: made, never replaced
printf '%s\n' "$snap"
"""

# Bring a snapshot back into a workspace (created or snapshotted by the caller first): its
# other branches and tags made again where missing (one that exists is never moved), the
# workspace branch at its tip, HEAD as it was (on the workspace branch, on another branch, or
# detached), the working tree as it was (leftovers removed, ignored files kept), the index as
# it was, the stash entries stored again.
# Args: dir, snapshot, head, index, branch HEAD was on ("" = detached), the snapshot's
# workspace branch ref, its tip, this workspace's branch, own (1: the workspace's own
# repository; 0: a worktree sharing the project's), refs ("ID REF" lines), stash ids
# oldest first.
RESTORE = PREAMBLE + r"""
dir=$(home "$1"); snap=$2; head=$3; index=$4; branch=$5; snapws=$6; tip=$7; wsbranch=$8
own=$9; shift 9; refs=$1; shift
cd "$dir"
if [ "$own" = 1 ] && [ -n "$refs" ]; then
  printf '%s\n' "$refs" | while read -r id r; do
    [ -z "$r" ] || [ "$r" = "$snapws" ] || git update-ref "$r" "$id" "" 2>/dev/null || true
  done
fi
if [ -n "$branch" ] && { [ "$branch" = "$snapws" ] || [ "$own" != 1 ]; }; then
  git checkout -q -f -B "$wsbranch" "$head"
elif [ -n "$branch" ]; then
  [ -z "$tip" ] || git update-ref "refs/heads/$wsbranch" "$tip"
  git checkout -q -f "${branch#refs/heads/}"
  git reset -q --hard "$head"
else
  [ -z "$tip" ] || git update-ref "refs/heads/$wsbranch" "$tip"
  git checkout -q -f --detach "$head"
fi
git read-tree --reset -u "$snap^{tree}"
git clean -fdq
git read-tree "$index^{tree}"
if [ "$own" = 1 ]; then
  for s in "$@"; do git stash store -m "$(git log -1 --format=%s "$s")" "$s"; done
fi
"""
