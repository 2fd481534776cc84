"""A start's docker calls side by side (volume, network and image at once; devenv's files
while sshd comes up): a failure still leaves nothing behind and reports the right error."""

from __future__ import annotations

from pathlib import Path

import pytest

from devenv import state
from devenv.envs import start
from devenv.errors import DevenvError

from .test_start_logic import FakeDocker, fake  # noqa: F401 - the fixture


def test_a_failed_image_leaves_no_volume_and_reports_the_image(
        fake: FakeDocker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> str:
        raise DevenvError("the build failed")

    monkeypatch.setattr(start.chain, "image_for", broken)
    with pytest.raises(DevenvError, match="the build failed"):
        start.ensure_running(str(tmp_path))
    created = [c for c in fake.calls if c[:2] == ["volume", "create"]]
    assert created and ["volume", "rm", created[0][-1]] in fake.calls
    assert fake.runs() == []
    conn = state.connect()
    assert state.all_projects(conn) == []  # the claim was undone


def test_a_container_that_dies_while_starting_is_removed(
        fake: FakeDocker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    start.ensure_running(str(tmp_path))  # a first start: the project is known

    def dies(cname: str, port: int, timeout: float = 0, status_log: str | None = None) -> None:
        raise DevenvError(f"the container {cname} exited while starting")

    monkeypatch.setattr(start.container, "wait_ready", dies)
    fake.calls.clear()
    with pytest.raises(DevenvError, match="exited while starting"):
        start.ensure_running(str(tmp_path))
    (run,) = fake.runs()
    assert ["rm", "-f", run[run.index("--name") + 1]] in fake.calls
