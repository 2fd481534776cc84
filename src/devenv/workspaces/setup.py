"""What a new workspace gets after its checkout (docs/workspaces.md): the project's ignored
files named by ``copy_ignored``, then the project's ``.devenv/init``, run only when the user
trusts that exact content (docs/security.md). A failing hook is reported; the workspace
stays usable."""

from __future__ import annotations

import os
import posixpath
import stat
import sys

from devenv import hostile, paths
from devenv.config import Config
from devenv.errors import DevenvError, safe_text
from devenv.state import Workspace
from devenv.workspaces import hostgit
from devenv.workspaces.project import Project
from devenv.workspaces.targets import Target, project_key

COPY_LIMIT = 64 << 20  # bytes per copied file: configuration and secrets, not data


def _say(line: str) -> None:
    print(f"devenv: {line}", file=sys.stderr)


async def prepare(p: Project, target: Target, ws: Workspace, cfg: Config) -> None:
    """``copy_ignored``, then the init hook, in the new workspace ``ws``."""
    await copy_ignored(p.path, p.repo, target, ws, cfg.copy_ignored)
    if p.hook_error:
        _say(f".devenv/init was not run in {ws.name}: {p.hook_error}")
    elif p.hook is not None:
        await run_hook(p, target, ws, timeout=cfg.init_timeout)


async def copy_ignored(project: str, repo: str, target: Target, ws: Workspace,
                       wanted: list[str]) -> None:
    """Copy each of ``wanted`` (paths relative to the project) that git ignores there into
    the workspace, read without following a link below the project, written without
    following one below a workspace on this machine."""
    inner = os.path.relpath(project, repo)
    inner = "" if inner == "." else inner
    chmods: list[str] = []
    for rel in wanted:
        in_repo = posixpath.join(inner, rel) if inner else rel
        # Without --no-index: a tracked file is never "ignored", so a checkout's own file is
        # never replaced by the project's working copy.
        ignored = await hostgit.git(repo, "check-ignore", "-q", "--", in_repo, trusted=False,
                                    check=False)
        if ignored.returncode != 0:
            _say(f"copy_ignored: {safe_text(rel)} is not an ignored file of the project; "
                 "not copied")
            continue
        try:
            data = hostile.read_beneath(project, rel, limit=COPY_LIMIT)
            mode = os.stat(os.path.join(project, rel), follow_symlinks=False).st_mode
        except (DevenvError, OSError) as e:
            _say(f"copy_ignored: {safe_text(rel)} not copied: "
                 f"{getattr(e, 'message', None) or e}")
            continue
        if data is None:
            continue  # not there: nothing to copy
        dest = f"{target.dir(ws.name)}/{in_repo}"
        if not target.remote:
            hostile.no_links_beneath(target.dir(ws.name), in_repo)
        await target.runtime.write_file(dest, data, parents=True)
        chmods += [f"{stat.S_IMODE(mode) & 0o777:o}", dest]
    if chmods:
        await target.run('while [ $# -gt 1 ]; do chmod "$1" "$2"; shift 2; done', *chmods)


async def run_hook(p: Project, target: Target, ws: Workspace, *, timeout: float) -> None:
    """Run the project's init hook (``p.hook``: the bytes its trust was judged on) in the
    workspace when trusted; say why not otherwise."""
    hook = p.hook
    assert hook is not None  # noqa: S101  the caller runs only a hook there is
    project = p.path
    if not p.trusted:
        _say(f".devenv/init was not run in {ws.name}: {p.trust_note} (devenv trust {project})")
        return
    from devenv.workspaces import hook as init

    logs = paths.ensure_private_dir(paths.log_dir() / "workspaces")
    log = logs / f"{project_key(project)}-{ws.name}-init.log"
    env = {"DEVENV_WORKSPACE": ws.name, "DEVENV_PROJECT": project,
           "DEVENV_TARGET": ws.target}
    result = await init.run_init(target.runtime, target.dir(ws.name), hook, env=env,
                                 timeout=timeout, log_path=log)
    if not result.ok:
        why = (f"did not end within {timeout:g} s and was killed" if result.timed_out
               else f"exited {result.exit_code}")
        _say(f".devenv/init {why}; the workspace {ws.name} is usable as it is (log: {log})")
