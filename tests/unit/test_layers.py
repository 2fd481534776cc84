"""The package's shape (docs/architecture.md): dependencies point one way, down the layers,
with no cycle; the runtime library imports nothing else of devenv; no core module imports an
integration. Every import counts, also the ones inside functions and type-only ones."""

from __future__ import annotations

import ast
from pathlib import Path

import devenv

SRC = Path(devenv.__file__).parent

# Lowest first. A unit is a subpackage or a top-level module of devenv.
LAYERS: list[set[str]] = [
    {"runtime"},  # the runtime library: stands alone
    {"devenv", "errors", "deadline", "paths", "hostile", "lockfile", "proc", "state", "table",
     "config_schema", "config_checks", "config"},  # foundations
    {"engine", "ssh"},  # the Docker engine; devenv's SSH keys, config and wiring
    {"images", "envs", "integrations"},
    {"workspaces"},  # stands on environments (an environment is one of its targets)
    {"commands"},
    {"cli", "cli_args", "__main__"},
]
INTEGRATIONS = "integrations"
# Who may import an integration: the commands and the command line, never the core.
MAY_IMPORT_INTEGRATIONS = {"commands", "cli", "cli_args", "__main__", INTEGRATIONS}


def unit_of(module: str) -> str:
    parts = module.split(".")
    assert parts[0] == "devenv", module
    return parts[1] if len(parts) > 1 else "devenv"


def layer_of(unit: str) -> int:
    for number, layer in enumerate(LAYERS):
        if unit in layer:
            return number
    raise AssertionError(f"devenv.{unit} is in no layer: add it to LAYERS (and to "
                         "docs/architecture.md)")


def module_name(path: Path, root: Path = SRC) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, root: Path = SRC) -> set[str]:
    """The devenv modules ``path`` (in the package at ``root``) imports, anywhere in it."""
    found = set()
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "devenv"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if base.split(".")[0] != "devenv":
                continue
            for alias in node.names:  # a submodule by that name, else the module itself
                sub = f"{base}.{alias.name}"
                found.add(sub if _is_module(sub, root) else base)
    return found


def _is_module(name: str, root: Path) -> bool:
    path = root.joinpath(*name.split(".")[1:])
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def graph() -> dict[str, dict[str, set[str]]]:
    """unit -> imported unit -> the modules importing it (for messages)."""
    edges: dict[str, dict[str, set[str]]] = {}
    for path in sorted(SRC.rglob("*.py")):
        here = module_name(path)
        for target in imports(path):
            a, b = unit_of(here), unit_of(target)
            if a != b:
                edges.setdefault(a, {}).setdefault(b, set()).add(here)
    return edges


def test_every_unit_has_a_layer() -> None:
    units = {unit_of(module_name(p)) for p in SRC.rglob("*.py")}
    for unit in units:
        layer_of(unit)


def test_dependencies_point_down() -> None:
    upward = [f"{sorted(who)} (devenv.{a}, layer {layer_of(a)}) imports devenv.{b} "
              f"(layer {layer_of(b)})"
              for a, targets in graph().items() for b, who in targets.items()
              if layer_of(b) > layer_of(a)]
    assert upward == []


def test_the_runtime_library_imports_nothing_else_of_devenv() -> None:
    assert graph().get("runtime", {}) == {}


def test_no_core_module_imports_an_integration() -> None:
    offenders = {a: sorted(targets[INTEGRATIONS]) for a, targets in graph().items()
                 if INTEGRATIONS in targets and a not in MAY_IMPORT_INTEGRATIONS}
    assert offenders == {}


def test_no_package_cycle() -> None:
    edges = {a: set(targets) for a, targets in graph().items()}
    seen: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(unit: str, path: list[str]) -> None:
        seen[unit] = 1
        for nxt in sorted(edges.get(unit, ())):
            if seen.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in seen:
                visit(nxt, [*path, nxt])
        seen[unit] = 2

    for unit in sorted(edges):
        if unit not in seen:
            visit(unit, [unit])
    assert cycles == []


def test_the_checker_sees_what_it_must(tmp_path: Path) -> None:
    """The import reader itself: lazy, relative, type-only and package imports count."""
    root = tmp_path / "devenv"
    for module in ("__init__", "paths", "state", "runtime/__init__", "runtime/pool",
                   "envs/__init__", "envs/index"):
        (root / f"{module}.py").parent.mkdir(parents=True, exist_ok=True)
        (root / f"{module}.py").touch()
    fake = root / "runtime" / "x.py"
    fake.write_text("from . import pool\nif False:\n    from devenv.envs import index\n"
                    "def f():\n    import devenv.paths\n    from devenv import state, "
                    "__version__\n")
    assert imports(fake, root) == {"devenv.runtime.pool", "devenv.envs.index", "devenv.paths",
                                   "devenv.state", "devenv"}
