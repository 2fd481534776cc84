"""The workspace rows (docs/benchmarks.md): sync, create and snapshot on the generated
repository of bench/bigrepo.py (20,000 commits, over 100 MB), in an environment of its
own, against git and ssh alone through the same ControlMaster (rows_sync.py).

- ws-sync-first: the first ``devenv workspace sync`` (an empty target) vs ``git clone
  --mirror`` of the synced repository back here;
- ws-sync-1: a sync after one new commit vs the whole repository as one bundle;
- ws-create: ``devenv workspace create`` when nothing changed vs the git steps alone
  (a repository borrowing the synced one's objects, its branch checked out);
- ws-snapshot: ``devenv workspace snapshot`` of a workspace whose 1,000 modified files all
  changed since the last snapshot vs ``git stash create`` there after the same change
  (which records the same changes, untracked files aside, and moves nothing).
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
from pathlib import Path

import bigrepo
from fixture import Bench, control_path
from measure import MeasureError, interleave, run, say, timed, wait_socket
from rows_sync import remove_on_target, timed_bundle_push, timed_clone_mirror

SYNCED = "/workspaces/.devenv/repo.git"
HEAVY_RUNS = 5  # the sync rows move 100 MB a run (a side): at most five


def phase_workspaces(b: Bench) -> None:
    say("preparing the generated repository (built once, then cached)")
    source = bigrepo.cached()
    big = b.tmp / f"b{b.token}" / "big"
    run(["git", "clone", "-q", "--shared", str(source), str(big)], timeout=600)
    for branch in ("release/1.x", "feature/search", "feature/wip"):  # all of its branches
        run(["git", "-C", str(big), "branch", "-q", "--track", branch, f"origin/{branch}"])
    up = run(b.devenv("up", "--json", str(big)), b.env, timeout=1800)
    try:
        _measure(b, big, up.stdout)
    finally:
        run(b.devenv("rm", "--volumes", "--force", str(big)), b.env, check=False,
            timeout=600)
        # Belt and braces: whatever rm could not do, its Docker objects go by name.
        name = f"b{b.token}-big"
        run(["docker", "rm", "-f", f"devenv-{name}"], check=False)
        for volume in (f"devenv-home-{name}", f"devenv-ws-{name}"):
            run(["docker", "volume", "rm", volume], check=False)
        run(["docker", "network", "rm", f"devenv-net-{name}"], check=False)


class _Target:
    """The big project's environment, as the rows reach it."""

    def __init__(self, b: Bench, big: Path, up_json: str) -> None:
        import json

        info = json.loads(up_json)
        self.b, self.big, self.project = b, big, str(big)
        self.container = info["container"]
        control = control_path(info["ssh_config"], info["ssh_host"])
        run(b.devenv("exec", self.project, "--", "true"), b.env)  # leaves the master up
        wait_socket(control)
        self.ssh = ["ssh", "-F", info["ssh_config"], "-o", f"ControlPath={control}",
                    "-o", "ControlMaster=no", info["ssh_host"]]
        self.sync = b.devenv("workspace", "sync", self.project)
        self.heavy = min(b.runs, HEAVY_RUNS)


def _measure(b: Bench, big: Path, up_json: str) -> None:
    t = _Target(b, big, up_json)
    local = Path(tempfile.mkdtemp(prefix="devenv-bench-ws-"))
    try:
        if b.wanted("ws-sync-first"):
            _sync_first(t, local)
        run(t.sync, b.env, timeout=900)
        if b.wanted("ws-sync-1"):
            _sync_one(t)
        run(t.sync, b.env)
        if b.wanted("ws-create"):
            _create(t)
        if b.wanted("ws-snapshot"):
            _snapshot(t)
    finally:
        shutil.rmtree(local, ignore_errors=True)


def _sync_first(t: _Target, local: Path) -> None:
    def first() -> float:
        remove_on_target(t.ssh, SYNCED)
        return timed(t.sync, t.b.env, timeout=900)

    def mirror() -> float:
        dest = local / "mirror.git"
        elapsed = timed_clone_mirror(t.ssh, SYNCED, dest)
        shutil.rmtree(dest)
        return elapsed

    run(t.sync, t.b.env, timeout=900)  # what the first mirror clones
    t.b.finish("ws-sync-first", interleave(t.heavy, {"a": first, "b": mirror}), "a", "b")


def _sync_one(t: _Target) -> None:
    def one() -> float:
        bigrepo.add_commit(t.big, 1)
        return timed(t.sync, t.b.env)

    def bundle() -> float:
        dest = "/workspaces/.devenv/tmp/bench-bundle.git"
        elapsed = timed_bundle_push(t.big, t.ssh, dest)
        remove_on_target(t.ssh, dest)
        return elapsed

    t.b.finish("ws-sync-1", interleave(t.heavy, {"a": one, "b": bundle}), "a", "b")


def _create(t: _Target) -> None:
    head = run(["git", "-C", t.project, "rev-parse", "HEAD"]).stdout.strip()
    counter = iter(range(10_000))

    def create() -> float:
        name = f"c{next(counter)}"
        elapsed = timed(t.b.devenv("workspace", "create", name, t.project), t.b.env)
        run(t.b.devenv("workspace", "delete", name, "-C", t.project), t.b.env)  # untimed
        return elapsed

    raw = ('set -e; d=$(mktemp -d /workspaces/.devenv/tmp/raw-XXXXXX); git init -q "$d"; '
           f'echo {SYNCED}/objects > "$d/.git/objects/info/alternates"; '
           f'git -C "$d" checkout -q -b x {head}; rm -rf "$d"')

    def git_only() -> float:
        return timed([*t.ssh, shlex.join(["sh", "-c", raw])], t.b.env)

    t.b.finish("ws-create", interleave(t.b.runs, {"a": create, "b": git_only}, warmup=1),
               "a", "b")


def _snapshot(t: _Target) -> None:
    """Each devenv run snapshots a workspace whose 1,000 source files (the generated
    binaries aside) were all changed again since the last one (untimed), so that every
    snapshot hashes and moves new content."""
    run(t.b.devenv("workspace", "create", "snap", t.project), t.b.env)
    rounds = iter(range(10_000))

    def touch() -> int:
        script = ("git ls-files | grep -v '^assets/' | head -n 1000 | while read -r f; do "
                  f"echo '# bench {next(rounds)}' >> \"$f\"; done; "
                  "git status --porcelain | wc -l")
        out = run(["docker", "exec", "-w", "/workspaces/snap", t.container, "sh", "-c",
                   script]).stdout.strip()
        return int(out or 0)

    modified = touch()
    if modified < 1000:
        raise MeasureError(f"only {modified} files could be modified in the workspace")
    t.b.rows["ws-snapshot"].note = f"{modified} files"
    snapshot = t.b.devenv("workspace", "snapshot", "snap", "-C", t.project)
    stash = [*t.ssh, "cd /workspaces/snap && git stash create >/dev/null"]

    def devenv_side() -> float:
        touch()
        return timed(snapshot, t.b.env)

    def git_side() -> float:  # new content too: git writes every changed file's object
        touch()
        return timed(stash, t.b.env)

    t.b.finish("ws-snapshot", interleave(t.b.runs, {"a": devenv_side, "b": git_side},
                                         warmup=1), "a", "b")
