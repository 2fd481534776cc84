"""Tool recipes: the catalogue shipped with devenv, plus the user's and the project's own.

A recipe is a directory holding ``manifest.toml`` and a ``Dockerfile`` that starts with
``ARG DEVENV_PARENT`` / ``FROM ${DEVENV_PARENT}``. Recipes are looked up in the project's
``.devenv/tools/``, then the user's ``$XDG_CONFIG_HOME/devenv/tools/``, then the catalogue, so
a local recipe of the same name wins.

The manifest::

    summary = "one line"
    depends = ["node"]             # tools this one builds on
    version = "claude --version"   # prints the installed version
    download = "why"               # only if the recipe needs downloads from outside the
                                   # package registries (it fails where those are blocked)
    [profile]                      # host files the tool reads, and files it must write
    readonly = ["~/.claude/"]
    seeded = ["~/.claude.json"]
    private = ["projects"]         # entries of a read-only dir that stay container-local
    omit = {"~/.claude.json" = ["projects"]}  # top-level keys of a seeded JSON file left out
"""

from __future__ import annotations

import difflib
import heapq
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import msgspec

from devenv import hostile
from devenv.errors import ConfigError
from devenv.paths import home_relative

_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class Profile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Host files a tool reads (``readonly``: visible, never writable; a trailing ``/`` makes
    it a directory whose entries are linked in), files it must write (``seeded``: a writable
    copy in the home volume, made once, never written back), and entries of a read-only
    directory that stay the container's own (``private``: the tool's state, not the host's).
    Paths start with ``~/``."""

    readonly: list[str] = []
    seeded: list[str] = []
    private: list[str] = []
    # Top-level keys of a seeded JSON file that are not copied (another project's history).
    omit: dict[str, list[str]] = {}


class Manifest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    summary: str
    version: str
    depends: list[str] = []
    download: str | None = None
    profile: Profile = Profile()


@dataclass(frozen=True)
class Tool:
    """One recipe, ready to build."""

    name: str
    manifest: Manifest
    files: Mapping[str, bytes]  # the build context: file name -> content
    source: str  # where the recipe came from (for messages)

    @property
    def depends(self) -> list[str]:
        return self.manifest.depends


def _read_dir(name: str, files: Mapping[str, bytes], source: str) -> Tool:
    where = f"{source}/manifest.toml"
    if "manifest.toml" not in files or "Dockerfile" not in files:
        raise ConfigError(f"{source}: a tool recipe needs manifest.toml and Dockerfile")
    try:
        data = tomllib.loads(files["manifest.toml"].decode("utf-8"))
        manifest = msgspec.convert(data, Manifest)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{where}: invalid TOML: {e}") from None
    except msgspec.ValidationError as e:
        message, _, at = str(e).partition(" - at `")
        field = at.rstrip("`").removeprefix("$").lstrip(".") or "top level"
        raise ConfigError(f"{where}: {field}: {message.replace('`', '')}") from None
    if not _NAME.match(name):
        raise ConfigError(f"{source}: tool name {name!r} is invalid",
                          "use lower-case letters, digits and '-' (e.g. my-tool)")
    for kind in ("readonly", "seeded"):
        for i, path in enumerate(getattr(manifest.profile, kind)):
            if not home_relative(path):
                raise ConfigError(f"{where}: profile.{kind}[{i}]: {path!r} must be a path "
                                  "inside the home directory, starting with ~/")
    for path in manifest.profile.omit:
        if path not in manifest.profile.seeded:
            raise ConfigError(f"{where}: profile.omit: {path!r} is not one of the seeded files")
    for i, entry in enumerate(manifest.profile.private):
        if not entry or "/" in entry or entry in (".", ".."):
            raise ConfigError(f"{where}: profile.private[{i}]: {entry!r} must be a plain name")
    return Tool(name, manifest, dict(files), source)


def _from_directory(root: Path, *, project: str | None = None) -> dict[str, Tool]:
    """The recipes in ``root``: the user's, or with ``project`` (its root directory) that
    project's ``.devenv/tools``, read as hostile: an agent can write them, so no link in
    there is followed (it could carry a host file into the image), and they may not name
    host files."""
    tools = {}
    if project is not None:
        hostile.no_links_beneath(project, ".devenv/tools")
    if root.is_dir():
        for entry in sorted(root.iterdir()):
            if project is not None:
                hostile.no_links_beneath(project, f".devenv/tools/{entry.name}")
            if entry.is_dir():
                try:
                    if project is None:
                        files = {p.name: p.read_bytes() for p in entry.iterdir()
                                 if p.is_file()}
                    else:
                        files = _read_project_recipe(project, entry)
                except OSError as e:
                    raise ConfigError(f"{entry}: cannot read the recipe: {e.strerror}") from None
                tool = _read_dir(entry.name, files, str(entry))
                profile = tool.manifest.profile
                if project is not None and (profile.readonly or profile.seeded):
                    # A cloned repository must not be able to mount the user's files.
                    raise ConfigError(f"{entry}/manifest.toml: profile: only the catalogue "
                                      "and the user's own recipes may name host files",
                                      "move the recipe to ~/.config/devenv/tools/")
                tools[entry.name] = tool
    return tools


def _read_project_recipe(project: str, entry: Path) -> dict[str, bytes]:
    files = {}
    for path in entry.iterdir():
        data = hostile.read_beneath(project, f".devenv/tools/{entry.name}/{path.name}")
        if data is not None:
            files[path.name] = data
    if "Dockerfile" in files:
        from devenv.images.build import refuse_remote_add

        refuse_remote_add(files["Dockerfile"], f"{entry}/Dockerfile")
    return files


def builtin() -> dict[str, Tool]:
    """The catalogue shipped as package data."""
    root = resources.files("devenv.images") / "tools"
    tools = {}
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            files = {f.name: f.read_bytes() for f in entry.iterdir() if f.is_file()}
            tools[entry.name] = _read_dir(entry.name, files, f"catalogue/{entry.name}")
    return tools


def available(user_dir: Path | None, project: str | Path | None) -> dict[str, Tool]:
    """Every recipe visible to a project: catalogue, then the user's (``user_dir``), then
    the project's own (``project``'s ``.devenv/tools``) overrides."""
    tools = builtin()
    if user_dir is not None:
        tools.update(_from_directory(user_dir))
    if project is not None:
        tools.update(_from_directory(Path(project) / ".devenv" / "tools",
                                     project=str(project)))
    return tools


def resolve(requested: Iterable[tuple[str, str]], tools: Mapping[str, Tool]) -> list[Tool]:
    """The layer order for ``requested`` tools and everything they depend on.

    :param requested: (tool name, where it was asked for: "file: field") pairs.
    :returns: tools in dependency order; ties go alphabetically, so the same set always
        gives the same chain of layers (and the layers are shared between projects).
    """
    wanted: dict[str, str] = {}
    stack = [(name, where) for name, where in requested]
    while stack:
        name, where = stack.pop()
        if name in wanted:
            continue
        if name not in tools:
            close = difflib.get_close_matches(name, tools, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{where}: unknown tool '{name}'{hint}",
                              f"known tools: {', '.join(sorted(tools))}")
        wanted[name] = where
        stack += [(dep, f"{tools[name].source}/manifest.toml: depends")
                  for dep in tools[name].depends]
    # Kahn's algorithm with a min-heap: deterministic, and it finds cycles.
    pending = {name: set(tools[name].depends) for name in wanted}
    ready = [name for name, deps in pending.items() if not deps]
    heapq.heapify(ready)
    order: list[Tool] = []
    while ready:
        name = heapq.heappop(ready)
        order.append(tools[name])
        for other, deps in pending.items():
            if name in deps:
                deps.discard(name)
                if not deps and tools[other] not in order and other not in ready:
                    heapq.heappush(ready, other)
    if len(order) < len(wanted):
        stuck = sorted(name for name in wanted if tools[name] not in order)
        first = tools[stuck[0]]
        raise ConfigError(
            f"{first.source}/manifest.toml: depends: dependency cycle among "
            f"{', '.join(stuck)}", "remove one of the 'depends' entries that close the loop")
    return order
