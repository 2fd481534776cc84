"""Baselines for the workspace-sync rows: moving the big repository (bigrepo.py) between
this machine and a target with git and ssh alone, through an SSH ControlMaster that is
already up. Not in bench/run's table yet: its rows come with the sync itself, each timing
devenv's sync against one of these (docs/benchmarks.md).

``ssh`` is an argv prefix that reaches the target through the master, the host last, e.g.
``["ssh", "-F", config, "-o", "ControlPath=...", host]``; None runs the target's side on
this machine instead (git over file:// rather than ssh://), so that the helpers can be
checked without SSH. Paths on the target are absolute.

    python bench/rows_sync.py REPO [--ssh-config F --control SOCKET --host H] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import MeasureError, interleave, last_line, run

Ssh = list[str] | None

# The target's side of the bundle transfer: the bundle is kept in a temporary file beside
# the destination (git cannot clone from a pipe), cloned into a bare mirror, and removed.
RECEIVE_BUNDLE = """set -e
dest=$1
tmp=$(mktemp "$(dirname "$dest")/.bundle.XXXXXX")
trap 'rm -f "$tmp"' EXIT
cat > "$tmp"
git clone -q --mirror "$tmp" "$dest"
"""


def on_target(ssh: Ssh, script: str, *args: str) -> list[str]:
    """The argv that runs ``sh -c script sh args...`` on the target (ssh hands the remote
    shell one string: the words are quoted for it)."""
    words = ["sh", "-c", script, "sh", *args]
    return words if ssh is None else [*ssh, shlex.join(words)]


def git_remote(ssh: Ssh, path: str) -> tuple[str, dict[str, str]]:
    """The URL of the repository ``path`` on the target and the environment that makes git
    reach it through the master. git puts the host itself after GIT_SSH_COMMAND's words, so
    the prefix's last word (the host) goes into the URL instead."""
    env = dict(os.environ)
    if ssh is None:
        return f"file://{path}", env  # the pack protocol, as over ssh; not a local copy
    *command, host = ssh
    env["GIT_SSH_COMMAND"] = shlex.join(command)
    env["GIT_SSH_VARIANT"] = "ssh"  # OpenSSH's options, whatever the command's name
    return f"{host}:{path}", env


def check_master(ssh: Ssh) -> None:
    """A timing through a master that is not up would include a connection's set-up:
    refuse to measure then."""
    if ssh is None:
        return
    *options, host = ssh
    proc = run([*options, "-O", "check", host], check=False, timeout=15)
    if proc.returncode != 0:
        raise MeasureError(f"no ControlMaster answers for {host}: {last_line(proc.stderr)}")


def remove_on_target(ssh: Ssh, path: str) -> None:
    run(on_target(ssh, 'rm -rf -- "$1"', path), timeout=300)


def mktemp_on_target(ssh: Ssh) -> str:
    """A new directory on the target, for the mirrors."""
    return run(on_target(ssh, 'mktemp -d "${TMPDIR:-/tmp}/devenv-bench-sync.XXXXXX"'),
               timeout=60).stdout.strip()


def timed_clone_mirror(ssh: Ssh, remote: str, dest: Path, *, timeout: float = 900) -> float:
    """(a) ``git clone --mirror`` of the bare repository ``remote`` on the target into
    ``dest`` here (which must not exist), through the master."""
    url, env = git_remote(ssh, remote)
    start = time.perf_counter()
    try:
        proc = subprocess.run(["git", "clone", "-q", "--mirror", url, str(dest)], env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        raise MeasureError(f"git clone --mirror {url} did not end within {timeout:g}s") \
            from None
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise MeasureError(f"git clone --mirror {url} exited {proc.returncode}: "
                           f"{last_line(proc.stderr)}")
    return elapsed


def timed_bundle_push(repo: Path, ssh: Ssh, dest: str, *, timeout: float = 900) -> float:
    """(b) the whole repository as one bundle: ``git bundle create - --all`` here, piped
    through the master into a file on the target, cloned there into the bare mirror
    ``dest`` (which must not exist). Timed from the bundle's start until both ends exited."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as bundle_err:
        bundle = subprocess.Popen(["git", "-C", str(repo), "bundle", "create", "-q", "-",
                                   "--all"], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=bundle_err)
        assert bundle.stdout is not None
        try:
            receive = subprocess.run(on_target(ssh, RECEIVE_BUNDLE, dest),
                                     stdin=bundle.stdout, capture_output=True,
                                     timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise MeasureError(f"the bundle transfer did not end within {timeout:g}s") \
                from None
        finally:
            bundle.stdout.close()
            try:
                bundle.wait(timeout=60)
            except subprocess.TimeoutExpired:
                bundle.kill()
                bundle.wait()
        elapsed = time.perf_counter() - start
        if bundle.returncode != 0:
            bundle_err.seek(0)
            raise MeasureError(f"git bundle create exited {bundle.returncode}: "
                               f"{last_line(bundle_err.read())}")
    if receive.returncode != 0:
        raise MeasureError(f"receiving the bundle exited {receive.returncode}: "
                           f"{last_line(receive.stderr)}")
    return elapsed


REFS = 'git -C "$1" for-each-ref --format="%(refname) %(objectname)"'


def parse_refs(out: str) -> dict[str, str]:
    return {name: sha for name, sha in (line.split(" ") for line in out.splitlines())}


def refs_here(repo: Path | str) -> dict[str, str]:
    return parse_refs(run(["sh", "-c", REFS, "sh", str(repo)]).stdout)


def refs_on_target(ssh: Ssh, path: str) -> dict[str, str]:
    return parse_refs(run(on_target(ssh, REFS, path)).stdout)


def same_refs(want: dict[str, str], got: dict[str, str], where: str) -> None:
    """What was transferred is checked, untimed: a fast wrong copy is not a sample."""
    if got != want:
        missing = sorted(set(want) - set(got)) or sorted(k for k in want if got[k] != want[k])
        raise MeasureError(f"{where} does not have the repository's refs "
                           f"({len(got)} of {len(want)}; e.g. {missing[:1]})")


def baselines(repo: Path, ssh: Ssh, runs: int) -> dict[str, list[float]]:
    """``runs`` samples of each baseline, interleaved: ``bundle-push`` (b) into a fresh
    mirror on the target, ``clone-mirror`` (a) of the mirror the first push left there into
    a fresh directory here. Removing what a run made is untimed; everything made is removed
    at the end."""
    check_master(ssh)
    want = refs_here(repo)
    target = mktemp_on_target(ssh)
    local = Path(tempfile.mkdtemp(prefix="devenv-bench-sync-"))
    served = f"{target}/served.git"
    try:
        timed_bundle_push(repo, ssh, served)  # what (a) clones; untimed
        same_refs(want, refs_on_target(ssh, served), f"{served} on the target")

        def bundle_push() -> float:
            dest = f"{target}/pushed.git"
            elapsed = timed_bundle_push(repo, ssh, dest)
            same_refs(want, refs_on_target(ssh, dest), f"{dest} on the target")
            remove_on_target(ssh, dest)
            return elapsed

        def clone_mirror() -> float:
            dest = local / "clone.git"
            elapsed = timed_clone_mirror(ssh, served, dest)
            same_refs(want, refs_here(dest), str(dest))
            shutil.rmtree(dest)
            return elapsed

        return interleave(runs, {"bundle-push": bundle_push, "clone-mirror": clone_mirror})
    finally:
        shutil.rmtree(local, ignore_errors=True)
        remove_on_target(ssh, target)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/rows_sync.py", description="The workspace-sync baselines alone, for a "
        "repository (e.g. one bench/bigrepo.py built): locally, or over ssh through a "
        "ControlMaster opened here for the run.")
    parser.add_argument("repo", type=Path)
    parser.add_argument("--ssh-config", help="ssh -F this (with --host)")
    parser.add_argument("--host", help="the target's host (default: run locally)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    ssh: Ssh = None
    master: list[str] = []
    sockets = Path(tempfile.mkdtemp(prefix="devenv-bench-cm-"))
    if args.host:
        base = ["ssh", *(["-F", args.ssh_config] if args.ssh_config else []),
                "-o", f"ControlPath={sockets / 'cm'}"]
        # ssh takes an option's first value: each argv names ControlMaster once.
        ssh = [*base, "-o", "ControlMaster=no", args.host]
        master = [*base, "-o", "ControlMaster=yes", "-o", "ControlPersist=300", "-f", "-N",
                  args.host]
    try:
        if master:
            run(master, timeout=30)
        samples = baselines(args.repo, ssh, args.runs)
    except MeasureError as e:
        print(f"bench/rows_sync.py: {e}", file=sys.stderr)
        return 1
    finally:
        if ssh is not None:
            run([*ssh[:-1], "-O", "exit", ssh[-1]], check=False, timeout=15)
        shutil.rmtree(sockets, ignore_errors=True)
    where = f"over ssh to {args.host}" if args.host else "locally"
    for key, values in samples.items():
        print(f"{key}: median {statistics.median(values):.2f} s of {len(values)} "
              f"({', '.join(f'{v:.2f}' for v in values)}) {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
