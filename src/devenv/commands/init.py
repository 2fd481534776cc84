"""``devenv init [PATH] [--template NAME] [--force]``: write ``.devenv/devenv.toml``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from devenv import config, paths
from devenv.errors import ConflictError, UsageError
from devenv.lockfile import atomic_write

BLANK = """\
# devenv project config (see README "Configuration"). Every key is optional.
# tools = ["node", "claude-code"]   # the available tools: `devenv tools`
# name = "my-project"               # environment name (default: <parent>-<basename>)
# ssh_port = 22250                  # fixed host SSH port
# post_create = "make setup"        # once per container creation, as the dev user
# post_start = "make serve >/tmp/serve.log 2>&1 &"  # every start (redirect background jobs)
#
# [env]
# EDITOR = "nvim"
#
# [[mounts]]                        # read-only unless readonly = false
# source = "~/datasets"
# target = "/data"
"""


def templates() -> list[str]:
    root = resources.files("devenv") / "templates"
    return sorted(entry.name for entry in root.iterdir() if entry.is_dir())


def run(path: str, *, template: str | None = None, force: bool = False) -> int:
    project = Path(path)
    if not project.is_dir():
        raise UsageError(f"not a directory: {path!r}", "create the project directory first")
    files: dict[str, bytes] = {"devenv.toml": BLANK.encode()}
    if template is not None:
        if template not in templates():
            raise UsageError(f"unknown template {template!r}",
                             f"choose one of: {', '.join(templates())}")
        root = resources.files("devenv") / "templates" / template
        files = {entry.name: entry.read_bytes() for entry in root.iterdir() if entry.is_file()}
    target = project / paths.PROJECT_DIR
    existing = [name for name in files if (target / name).exists()]
    if existing and not force:
        raise ConflictError(f"{target / existing[0]} already exists",
                            "use --force to overwrite it")
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} exists and is not a directory",
                         "move it away; devenv keeps its project files in .devenv/")
    target.mkdir(exist_ok=True)
    for name, data in sorted(files.items()):
        atomic_write(target / name, data, 0o644)
        print(f"wrote {target / name}")
    config.load(str(project))  # a template must always be valid; fail loudly if not
    return 0
