"""Config-driven environments on the real engine: shared tool layers, agent CLIs, HTTPS to
the package registries, env and mounts, and bad config that builds and starts nothing."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from .conftest import Devenv


def configure(project: Path, text: str) -> None:
    (project / ".devenv").mkdir(exist_ok=True)
    (project / ".devenv" / "devenv.toml").write_text(text)


def test_tool_layers_are_built_once_and_shared(dv: Devenv, make_project: Any) -> None:
    first, second = make_project("one"), make_project("two")
    configure(first, 'tools = ["node", "claude-code"]\n')
    configure(second, 'tools = ["claude-code", "node"]\n')  # same set, other order
    dv.ok("build", str(first), timeout=1800)
    again = dv.ok("build", str(second))
    steps = [line for line in again.stderr.splitlines() if line.startswith("[")]
    assert steps == [line for line in steps if ": cached (" in line] and len(steps) == 2
    assert "building" not in again.stderr
    assert again.stdout.strip().startswith("devenv-tool-claude-code:")
    got = dv.run("exec", str(second), "--", "sh", "-c",
                 "claude --version && node --version && npm view is-number version")
    assert got.returncode == 0, got.stderr
    claude, node, is_number = got.stdout.split("\n")[:3]
    assert "Claude Code" in claude and node.startswith("v22.")
    assert is_number.strip() == "7.0.0"  # HTTPS to the npm registry from inside


def test_agent_clis_run(dv: Devenv, make_project: Any) -> None:
    project = make_project()
    configure(project, 'tools = ["codex", "opencode"]\n')
    dv.ok("build", str(project), timeout=1800)
    got = dv.run("exec", str(project), "--", "sh", "-c", "codex --version; opencode --version")
    assert got.returncode == 0, got.stderr
    codex, opencode = got.stdout.strip().splitlines()[:2]
    assert codex.startswith("codex") and opencode[:1].isdigit()


def test_env_mounts_port_and_name_from_config(dv: Devenv, make_project: Any,
                                              tmp_path: Path) -> None:
    project = make_project()
    (project / "data").mkdir()
    (project / "data" / "f.txt").write_text("from the project\n")
    scratch = tmp_path / "scratch"  # outside the project: only the user file may mount it
    scratch.mkdir()
    scratch.chmod(0o777)
    user_file = dv.home / "config" / "config.toml"
    user_file.parent.mkdir(parents=True)
    user_file.write_text(f'[[mounts]]\nsource = "{scratch}"\ntarget = "/scratch"\n'
                         "readonly = false\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    configure(project, f'name = "cfg-env"\nssh_port = {port}\n[env]\nGREETING = "hi there"\n'
                       '[[mounts]]\nsource = "data"\ntarget = "/data"\n')
    info = dv.up(project)
    assert (info["name"], info["port"]) == ("cfg-env", port)
    got = dv.run("exec", str(project), "--", "sh", "-c",
                 'echo "$GREETING"; cat /data/f.txt; touch /data/x 2>/dev/null || echo ro; '
                 "touch /scratch/y && echo rw")
    assert got.stdout == "hi there\nfrom the project\nro\nrw\n", got.stderr
    assert (scratch / "y").exists() and not (project / "data" / "x").exists()


def test_a_project_cannot_reach_outside_itself(dv: Devenv, make_project: Any,
                                               tmp_path: Path) -> None:
    project = make_project()
    configure(project, f'[[mounts]]\nsource = "{tmp_path}"\ntarget = "/host"\n')
    got = dv.run("up", str(project))
    assert got.returncode == 7 and "is outside the project" in got.stderr
    configure(project, 'tools = ["sneaky"]\n')
    recipe = project / ".devenv" / "tools" / "sneaky"
    recipe.mkdir(parents=True)
    (recipe / "manifest.toml").write_text(
        'summary = "x"\nversion = "true"\n[profile]\nreadonly = ["~/.ssh/"]\n')
    (recipe / "Dockerfile").write_text("ARG DEVENV_PARENT\nFROM ${DEVENV_PARENT}\n")
    got = dv.run("up", str(project))
    assert got.returncode == 7 and "only the catalogue and the user's own" in got.stderr
    assert dv.containers() == []


BAD = {
    "unknown key": ('toolz = ["node"]\n', "toolz: unknown key"),
    "wrong type": ('ssh_port = "22"\n', "ssh_port: expected int, got str"),
    "unknown tool": ('tools = ["nodee"]\n', "tools[0]: unknown tool 'nodee' (did you mean"),
    "malformed": ('tools = ["node"\n', "invalid TOML"),
    "cycle": ('tools = ["loop-a"]\n', "depends: dependency cycle among loop-a, loop-b"),
    "missing mount": ('[[mounts]]\nsource = "/nonexistent/x"\ntarget = "/x"\n',
                      "mounts[0].source: /nonexistent/x does not exist"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_config_builds_and_starts_nothing(dv: Devenv, make_project: Any,
                                              case: str) -> None:
    text, expected = BAD[case]
    project = make_project()
    configure(project, text)
    for name, dep in (("loop-a", "loop-b"), ("loop-b", "loop-a")):
        recipe = project / ".devenv" / "tools" / name
        recipe.mkdir(parents=True)
        (recipe / "manifest.toml").write_text(
            f'summary = "x"\nversion = "true"\ndepends = ["{dep}"]\n')
        (recipe / "Dockerfile").write_text("ARG DEVENV_PARENT\nFROM ${DEVENV_PARENT}\n")
    for argv in (["up", str(project)], ["exec", str(project), "--", "true"],
                 ["build", str(project)]):
        got = dv.run(*argv)
        assert got.returncode == (125 if argv[0] == "exec" else 7), got.stderr
        error = got.stderr.splitlines()[0]
        assert error.startswith("devenv: error: ") and expected in error, error
        assert "Traceback" not in got.stderr
    assert dv.containers() == []
    assert not (dv.home / "cache" / "logs").exists()  # nothing was built


def _catalogue() -> list[str]:
    from devenv.images import catalogue

    return sorted(catalogue.builtin())


@pytest.mark.parametrize("tool", _catalogue())
def test_every_catalogue_recipe_builds_or_says_why_not(dv: Devenv, make_project: Any,
                                                       tool: str) -> None:
    from devenv.images import catalogue

    manifest = catalogue.builtin()[tool].manifest
    project = make_project()
    configure(project, f'tools = ["{tool}"]\n')
    built = dv.run("build", str(project), timeout=1800)
    if manifest.download:
        assert built.returncode == 1
        error = next(line for line in built.stderr.splitlines() if "error:" in line)
        assert "needs downloads from outside the package registries" in error
        assert manifest.download in error
        return
    assert built.returncode == 0, built.stderr
    version = dv.run("exec", str(project), "--", "sh", "-c", manifest.version)
    assert version.returncode == 0 and version.stdout.strip(), version.stderr
