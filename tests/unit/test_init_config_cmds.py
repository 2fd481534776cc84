from __future__ import annotations

import json
from pathlib import Path

import pytest

from devenv import cli, config


@pytest.mark.parametrize("template", ["python", "node", "go", "rust", "agents"])
def test_templates_write_valid_config(tmp_path: Path, template: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["init", str(tmp_path), "--template", template]) == 0
    cfg = config.load(str(tmp_path))
    assert cfg.tools
    assert ((tmp_path / ".devenv" / "Dockerfile").exists()) == (template == "agents")
    capsys.readouterr()
    assert cli.main(["config", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["values"]["tools"] == cfg.tools


def test_init_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["init", str(tmp_path)]) == 0
    target = tmp_path / ".devenv" / "devenv.toml"
    target.write_text('tools = ["go"]\n')
    assert cli.main(["init", str(tmp_path), "--template", "node"]) == 4
    assert "already exists" in capsys.readouterr().err
    assert target.read_text() == 'tools = ["go"]\n'  # untouched
    assert cli.main(["init", str(tmp_path), "--template", "node", "--force"]) == 0
    assert '"node"' in target.read_text()
    assert cli.main(["init", str(tmp_path), "--template", "cobol"]) == 2


def test_config_command(tmp_path: Path, devenv_home: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    (devenv_home / "config").mkdir(parents=True)
    (devenv_home / "config" / "config.toml").write_text('tools = ["cli-utils"]\n')
    (tmp_path / ".devenv").mkdir()
    (tmp_path / ".devenv" / "devenv.toml").write_text('tools = ["claude-code"]\nssh_port = 23456\n')
    assert cli.main(["config", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["values"]["tools"] == ["cli-utils", "claude-code"]
    assert data["tool_layers"] == ["cli-utils", "node", "claude-code"]
    assert cli.main(["config", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert f"ssh_port = 23456    # {tmp_path}/.devenv/devenv.toml: ssh_port" in text
    assert "cli-utils from ~/" in text or f"cli-utils from {devenv_home}" in text


def test_bad_config_is_exit_7_with_file_and_field(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".devenv").mkdir()
    (tmp_path / ".devenv" / "devenv.toml").write_text('tools = ["node", "nodee"]\n')
    assert cli.main(["config", str(tmp_path)]) == 7
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (f"devenv: error: {tmp_path}/.devenv/devenv.toml: tools[1]: unknown tool "
                      "'nodee' (did you mean 'node'?)")
