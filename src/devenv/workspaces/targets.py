"""Where workspaces live: the project's environment, this machine (``local``: git worktrees
of the project under devenv's worktree root) or an SSH host. Environments and SSH hosts are
reached the same way (an environment is an SSH target whose workspace root is its
``/workspaces`` volume); host git talks to them through the runtime library's pooled
ControlMaster (docs/workspaces.md)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from devenv.envs.container import WORKSPACES
from devenv.envs.identity import sanitize
from devenv.errors import DevenvError, UsageError, safe_text
from devenv.runtime import ExecResult, LocalRuntime, Runtime, SSHRuntime, SSHTarget, WorktreeRuntime
from devenv.runtime.ssh import SESSION_OPTIONS, SSHBase
from devenv.ssh import health
from devenv.workspaces import hostgit, scripts

ENV, LOCAL = "env", "local"
ENV_ROOT = WORKSPACES  # an environment's workspaces volume
MAX_WAIT = 10.0  # seconds to wait for a connection to the target (the pool's max_wait)
SHORT = 120.0  # seconds for one step on the target (prepare, create, status, ...)
NOT_FOUND = 127  # the shell's exit status for a command it cannot find
NO_ROOT = 20  # PREPARE: the workspace root cannot be made


@dataclass
class Target:
    """One target of one project. ``spec`` is what the workspace records keep (``env``,
    ``local`` or ``[user@]host[:port]``); ``root`` is where its workspaces are."""

    kind: str
    spec: str
    label: str
    runtime: Runtime
    root: str
    project: str
    repo_path: str  # the project's git work tree on this machine
    env_name: str = ""  # the environment's name (environment targets)
    has_flock: bool = field(default=False, init=False)
    empty: bool = field(default=False, init=False)  # nothing synced there yet (prepare)
    object_format: str = field(default="", init=False)  # the project's: sha1 or sha256
    _prepared: bool = field(default=False, init=False)

    @property
    def remote(self) -> bool:
        return self.kind != LOCAL

    @property
    def upload_pack(self) -> str:
        """The target's side of a fetch from it. An environment is on this machine, where
        bytes cost nothing and CPU does: no delta search and no compression for what it
        sends (together they halve the time a snapshot of 1,000 changed files takes)."""
        return ("git -c pack.window=0 -c pack.compression=0 upload-pack" if self.kind == ENV
                else "git-upload-pack")

    @property
    def git_config(self) -> dict[str, str]:
        """Settings for devenv's own git steps there: in an environment (this machine),
        objects it writes for a snapshot are compressed the fastest way."""
        if self.kind != ENV:
            return {}
        return {"GIT_CONFIG_PARAMETERS": "'core.looseCompression=1' 'pack.compression=1'"}

    @property
    def repo(self) -> str:
        """The bare repository the project is synced into (remote targets)."""
        return f"{self.root}/.devenv/repo.git"

    def dir(self, name: str) -> str:
        return f"{self.root}/{name}"

    async def prepare(self) -> None:
        """Make the root and the synced repository (remote targets), once per process. The
        first step of a command on a target does this on the same trip (:meth:`run_bytes`):
        call it only before using :attr:`root` or :attr:`has_flock` without a step."""
        if not self._prepared and self.remote:
            await self.run(":")

    def _prepared_by(self, result: ExecResult, out: bytes) -> bytes:
        """What PREPARE said, taken in; the script's own output after it returned."""
        lines = out.split(b"\n", 4)
        if len(lines) < 5 or not lines[0].startswith(b"/") or \
                not lines[4].startswith(scripts.PREPARED_MARK.encode() + b"\n"):
            raise self._unprepared(result, out)
        text = [line.decode("utf-8", "surrogateescape") for line in lines[:4]]
        if text[2] != self.object_format:
            raise DevenvError(f"{self.label}: {text[0]}/.devenv/repo.git holds {text[2]} "
                              f"objects, the project {self.object_format} ones",
                              "move it away there, then sync again (its workspaces borrow "
                              "its objects: snapshot them first)")
        self.root, self.has_flock, self.empty = text[0], text[1] == "flock", \
            text[3] == "empty"
        self._prepared = True
        return lines[4][len(scripts.PREPARED_MARK) + 1:]

    def _unprepared(self, result: ExecResult, out: bytes) -> DevenvError:
        if result.timed_out:
            return DevenvError(f"{self.label}: preparing {self.root} found no end within "
                               f"{SHORT:g}s", "another sync may hold it: try again")
        if result.exit_code == NOT_FOUND:
            return UsageError(f"{self.label}: git is not installed there (workspaces need "
                              "it)", "install git on it")
        if not result.ok:
            error = TargetError(self, result.exit_code, result.stderr, False, SHORT)
            if self.kind == ENV and result.exit_code == NO_ROOT:  # from before workspaces
                return DevenvError(error.message, "recreate it: devenv up --recreate "
                                   f"{self.project}")
            return error
        return UsageError(f"{self.label}: could not prepare {self.root} for workspaces: "
                          f"{safe_text(out.decode('utf-8', 'replace').strip()[:200])!r}",
                          "is git installed there?")

    async def run(self, script: str, *args: str, timeout: float = SHORT,
                  env: dict[str, str] | None = None, check: bool = True,
                  trusted: bool = False, ws: str | None = None) -> str:
        """Run one of :mod:`.scripts` on the target; its stdout (text), or a one-line error
        with the script's last words. Its git runs as :meth:`git_env` says (``ws``: in
        that workspace)."""
        return (await self.run_bytes(script, *args, timeout=timeout, env=env, check=check,
                                     trusted=trusted, ws=ws)).decode("utf-8",
                                                                     "surrogateescape")

    async def run_bytes(self, script: str, *args: str, timeout: float = SHORT,
                        env: dict[str, str] | None = None, check: bool = True,
                        trusted: bool = False, ws: str | None = None) -> bytes:
        """As :meth:`run`. The first step on a remote target prepares it on the same trip
        (:data:`scripts.PREPARED`), so the root it names there may still start with ``~/``:
        every script expands it."""
        fused = self.remote and not self._prepared
        if fused and not self.object_format:
            self.object_format = await hostgit.object_format(self.repo_path)
        full = self.git_env(trusted, ws) | (env or {})
        argv = ["sh", "-c", script, "sh", *args]
        if fused:
            argv = ["sh", "-c", scripts.PREPARED, "sh", scripts.PREPARE, self.root, script,
                    *args]
        result = await self.runtime.exec(argv, timeout=timeout, env=full,
                                         cwd="/" if self.remote else None)
        out = self._prepared_by(result, result.stdout) if fused else result.stdout
        if check and not result.ok:
            raise TargetError(self, result.exit_code, result.stderr, result.timed_out,
                              timeout)
        return out

    def git_env(self, trusted: bool, ws: str | None = None) -> dict[str, str]:
        """How devenv's git runs there (:func:`hostgit.target_env`); in a workspace on this
        machine also with its git directories given explicitly, found from the project's
        own repository: nothing in the worktree (its ``.git`` file) chooses them. Where
        it makes repositories, they take the project's object format."""
        env = hostgit.target_env(trusted)
        if self.kind == LOCAL and ws is not None:
            env |= _worktree_dirs(self.repo_path, self.dir(ws))
        if self.object_format:  # the repositories it makes there are in the project's
            env["GIT_DEFAULT_HASH"] = self.object_format
        return env

    @contextlib.asynccontextmanager
    async def git_ssh(self) -> AsyncIterator[tuple[dict[str, str], str]]:
        """For host git to reach the target: the environment (``GIT_SSH_COMMAND`` through a
        pooled master, held for the duration) and the URL prefix of its paths."""
        rt = self.runtime
        assert isinstance(rt, SSHBase)  # noqa: S101  remote targets are SSH runtimes
        ep = rt.endpoint
        lease = await rt.pool.acquire(ep, max_wait=MAX_WAIT)
        try:
            ssh = ["ssh", *ep.options, "-o", f"ControlPath={lease.control_path}",
                   *SESSION_OPTIONS]
            host = f"[{ep.host}]" if ":" in ep.host else ep.host
            yield {"GIT_SSH_COMMAND": shlex.join(ssh), "GIT_SSH_VARIANT": "ssh"}, \
                f"ssh://{host}"
        finally:
            lease.release()

    async def close(self) -> None:
        await self.runtime.close()


class TargetError(DevenvError):
    """A step on the target failed (exit 1); the message carries its last words, ``code``
    the step's exit status."""

    def __init__(self, target: Target, code: int | None, stderr: bytes, timed_out: bool,
                 timeout: float) -> None:
        self.code = code
        lines = [ln for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        said = safe_text(lines[-1].strip())[:300] if lines else f"exit {code}"
        if timed_out:
            said = f"no end within {timeout:g}s"
        super().__init__(f"{target.label}: {said}", None)


def project_key(project: str) -> str:
    """The project's directory name on SSH hosts: readable and unique per project path."""
    digest = hashlib.sha256(project.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    base = sanitize(os.path.basename(project))[:40] or "project"
    return f"{base}-{digest}"


def check_spec(spec: str | None) -> str:
    """The target spec to record: ``env`` (default), ``local``, or an SSH host as given."""
    if spec in (None, "", ENV):
        return ENV
    if spec == LOCAL:
        return LOCAL
    assert spec is not None  # noqa: S101
    SSHTarget.parse(spec)  # validates: a bad host is an error before anything happens
    return spec


def open_target(project: str, repo_path: str, spec: str) -> Target:
    """The target ``spec`` (see :func:`check_spec`) of ``project``. An environment target
    starts the environment if it is not running."""
    dirs = health.runtime_dirs()
    if spec == LOCAL:
        # Where the runtime library puts a worktree of this repository (WorktreeRuntime).
        base = os.path.dirname(WorktreeRuntime(repo_path, "x", dirs=dirs).root)
        return Target(LOCAL, LOCAL, "this machine", LocalRuntime(repo_path, dirs=dirs), base,
                      project, repo_path)
    if spec == ENV:
        from devenv.envs import EnvRuntime, reach, start

        # Running (the index says so at no cost), else started.
        found = reach.find(project, probe=False)
        name = found.name if found is not None else start.ensure_running(project).name
        rt: SSHBase = EnvRuntime(project, max_wait=MAX_WAIT)
        return Target(ENV, ENV, f"environment {name}", rt, ENV_ROOT, project, repo_path, name)
    ssh = SSHTarget.from_cli(spec)
    rt = SSHRuntime(ssh, dirs=dirs, max_wait=MAX_WAIT)
    root = f"{ssh.src_base_dir.rstrip('/')}/{project_key(project)}"
    return Target("ssh", spec, ssh.label, rt, root, project, repo_path)


def _worktree_dirs(repo: str, directory: str) -> dict[str, str]:
    """``GIT_DIR``/``GIT_COMMON_DIR``/``GIT_WORK_TREE`` of the linked worktree at
    ``directory``: the project's ``.git/worktrees/*`` entry whose ``gitdir`` names it."""
    common = hostgit.git_dirs(repo).get("GIT_DIR") or os.path.join(repo, ".git")
    admin = os.path.join(common, "worktrees")
    want = os.path.realpath(os.path.join(directory, ".git"))
    try:
        entries = sorted(os.listdir(admin))
    except OSError:
        entries = []
    for entry in entries:
        path = os.path.join(admin, entry)
        try:
            if os.path.islink(path) or os.path.islink(os.path.join(path, "gitdir")):
                continue
            with open(os.path.join(path, "gitdir"), encoding="utf-8",
                      errors="surrogateescape") as f:
                named = f.read(4096).strip()
        except OSError:
            continue
        if os.path.realpath(named) == want:
            return {"GIT_DIR": path, "GIT_COMMON_DIR": common, "GIT_WORK_TREE": directory}
    raise DevenvError(f"{directory} is no worktree of {repo} (git worktree list)",
                      "devenv runs git there only as the project's own worktree")
