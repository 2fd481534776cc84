from __future__ import annotations

import os
import time

import pytest

from devenv import proc
from devenv.errors import CommandError, DevenvError, EngineUnavailable


def test_run_captures_and_checks() -> None:
    result = proc.run(["sh", "-c", "echo out; echo err >&2"], timeout=10)
    assert (result.returncode, result.stdout, result.stderr) == (0, "out\n", "err\n")
    with pytest.raises(CommandError) as info:
        proc.run(["sh", "-c", "echo bad >&2; exit 3"], timeout=10)
    assert info.value.returncode == 3 and "bad" in str(info.value)
    assert proc.run(["sh", "-c", "exit 4"], timeout=10, check=False).returncode == 4


def test_input_and_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVENV_T_DROP", "x")
    out = proc.run(["sh", "-c", 'cat; echo "[$DEVENV_T_ADD][${DEVENV_T_DROP-unset}]"'],
                   timeout=10, input="in\n",
                   env={"DEVENV_T_ADD": "a", "DEVENV_T_DROP": None}).stdout
    assert out == "in\n[a][unset]\n"


def test_timeout_interrupts_and_is_bounded() -> None:
    start = time.monotonic()
    with pytest.raises(DevenvError, match=r"did not finish within 0\.3s"):
        proc.run(["sh", "-c", "trap '' INT; sleep 30"], timeout=0.3)
    assert time.monotonic() - start < 5


def test_missing_binaries_are_friendly() -> None:
    with pytest.raises(DevenvError, match="'no-such-tool-xyz' is not installed"):
        proc.run(["no-such-tool-xyz"], timeout=5)


def test_missing_docker_is_engine_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(EngineUnavailable, match="docker CLI is not installed"):
        proc.run(["docker", "version"], timeout=5)


def test_redact_hides_secrets() -> None:
    shown = proc.redact(["docker", "run", "-e", "API_TOKEN=abc", "-e", "PLAIN=1"])
    assert "abc" not in shown and "API_TOKEN=***" in shown and "PLAIN=1" in shown


def test_debug_log(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DEVENV_DEBUG", "1")
    proc.run(["true"], timeout=5)
    assert "devenv: + true" in capsys.readouterr().err


def test_exec_replace_replaces_the_process(tmp_path: object) -> None:
    pid = os.fork()
    if pid == 0:  # child: becomes `sh -c 'exit 7'`
        try:
            proc.exec_replace(["sh", "-c", "exit 7"])
        finally:
            os._exit(99)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 7
