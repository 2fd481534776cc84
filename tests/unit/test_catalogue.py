from __future__ import annotations

from pathlib import Path

import pytest

from devenv.errors import ConfigError
from devenv.images import catalogue, layers

REQUIRED = {"node", "python", "go", "rust", "gh", "neovim", "cli-utils", "claude-code",
            "codex", "opencode", "gemini", "aider", "wezterm-mux"}


def test_catalogue_has_every_required_recipe() -> None:
    tools = catalogue.builtin()
    assert set(tools) >= REQUIRED and len(tools) >= 12
    for tool in tools.values():
        assert tool.manifest.summary and tool.manifest.version
        lines = tool.files["Dockerfile"].decode().splitlines()
        assert lines[:2] == ["ARG DEVENV_PARENT", "FROM ${DEVENV_PARENT}"], tool.name
        assert set(tool.depends) <= set(tools)
    # Only recipes that truly need outside downloads are marked so.
    assert {t.name for t in tools.values() if t.manifest.download} == {"wezterm-mux"}
    claude = tools["claude-code"].manifest.profile
    assert "~/.claude/agents/" in claude.readonly and "~/.claude.json" in claude.seeded
    # An allowlist: the whole ~/.claude (every project's transcripts) is never shared.
    assert "~/.claude/" not in claude.readonly


def names(tools: list[catalogue.Tool]) -> list[str]:
    return [t.name for t in tools]


def test_resolution_adds_dependencies_in_a_stable_order() -> None:
    tools = catalogue.builtin()
    a = catalogue.resolve([("claude-code", "x"), ("aider", "x"), ("cli-utils", "x")], tools)
    b = catalogue.resolve([("cli-utils", "y"), ("aider", "y"), ("claude-code", "y")], tools)
    assert names(a) == names(b) == ["cli-utils", "node", "claude-code", "python", "aider"]


def test_unknown_tool_suggests_a_close_name() -> None:
    with pytest.raises(ConfigError) as info:
        catalogue.resolve([("node", "f: tools[0]"), ("nodee", "f: tools[1]")],
                          catalogue.builtin())
    assert info.value.message == "f: tools[1]: unknown tool 'nodee' (did you mean 'node'?)"


def recipe(root: Path, name: str, depends: list[str], manifest_extra: str = "") -> None:
    (root / name).mkdir(parents=True)
    deps = ", ".join(f'"{d}"' for d in depends)
    (root / name / "manifest.toml").write_text(
        f'summary = "{name}"\nversion = "true"\ndepends = [{deps}]\n{manifest_extra}')
    (root / name / "Dockerfile").write_text("ARG DEVENV_PARENT\nFROM ${DEVENV_PARENT}\n")


def test_local_recipes_extend_and_override(tmp_path: Path) -> None:
    recipe(tmp_path / "user", "mytool", ["node"])
    recipe(tmp_path / "proj" / ".devenv" / "tools", "node", [])
    tools = catalogue.available(tmp_path / "user", tmp_path / "proj")
    assert tools["node"].source == str(tmp_path / "proj" / ".devenv" / "tools" / "node")
    assert names(catalogue.resolve([("mytool", "x")], tools)) == ["node", "mytool"]


def test_dependency_cycle_names_the_manifest(tmp_path: Path) -> None:
    recipe(tmp_path, "a", ["b"])
    recipe(tmp_path, "b", ["a"])
    tools = catalogue.available(tmp_path, None)
    with pytest.raises(ConfigError) as info:
        catalogue.resolve([("a", "f: tools[0]")], tools)
    assert info.value.message == (f"{tmp_path / 'a'}/manifest.toml: depends: dependency cycle "
                                  "among a, b")


def test_bad_manifest_names_file_and_field(tmp_path: Path) -> None:
    recipe(tmp_path, "bad", [], 'colour = "red"\n')
    with pytest.raises(ConfigError, match=r"bad/manifest.toml: .*colour"):
        catalogue.available(tmp_path, None)


def test_layer_tags_are_content_addresses() -> None:
    tools = catalogue.builtin()
    chain = catalogue.resolve([("claude-code", "x")], tools)
    one = layers.plan("devenv-default:aaa", chain)
    assert [layer.tag.split(":")[0] for layer in one] == ["devenv-tool-node",
                                                           "devenv-tool-claude-code"]
    assert one[1].parent == one[0].tag
    assert layers.plan("devenv-default:aaa", chain) == one  # same inputs, same tags
    other = layers.plan("devenv-default:bbb", chain)  # new base: every layer is new
    assert {layer.tag for layer in other}.isdisjoint(layer.tag for layer in one)


@pytest.mark.parametrize("path", ["~//etc/", "~/../x", "~/a/../../b", "/etc/passwd", "~/",
                                  "~/./x", "~/a//b"])
def test_profile_paths_must_stay_in_home(tmp_path: Path, path: str) -> None:
    recipe(tmp_path, "evil", [], f'[profile]\nreadonly = ["{path}"]\n')
    with pytest.raises(ConfigError, match=r"must be a path inside the home directory"):
        catalogue.available(tmp_path, None)


def test_tool_names_are_checked(tmp_path: Path) -> None:
    recipe(tmp_path, "My Tool", [])
    with pytest.raises(ConfigError, match="tool name 'My Tool' is invalid"):
        catalogue.available(tmp_path, None)
