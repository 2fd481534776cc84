"""The environment's volumes (home and workspaces) against a fake docker CLI: their names and
mounts, the reserved /workspaces target, making them, refusing another project's, and the
clean-up after a failed first start. The real engine: tests/integration/test_cleanup.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devenv import config
from devenv.engine import docker
from devenv.envs import container, drift, identity, volumes
from devenv.errors import ConfigError, ConflictError
from devenv.proc import Result

from .conftest import write

HOME, WS = "devenv-home-p-proj", "devenv-ws-p-proj"


def test_names_and_mounts(project: Path, devenv_home: Path) -> None:
    assert container.workspaces_volume("p-proj") == WS
    assert container.WORKSPACES == "/workspaces"
    assert volumes.names("p-proj") == {HOME: "home", WS: "workspaces"}
    path = identity.ProjectPath(str(project))
    argv = container.run_argv(path, "p-proj", port=23000, image="img", instance="me",
                              key_dir=str(project), status_log=str(project / "log"),
                              cfg=config.load(str(project)), extra_labels={},
                              extra_mounts=[])
    mounts = [argv[i + 1] for i, word in enumerate(argv) if word == "--mount"]
    assert f"type=volume,source={HOME},target=/home/dev" in mounts
    assert f"type=volume,source={WS},target=/workspaces" in mounts


@pytest.mark.parametrize("target", ["/workspaces", "/workspaces/", "/workspaces/a",
                                    "/workspaces/a/b", "//workspaces/a", "/workspaces/./a",
                                    "/x/../workspaces/a"])
def test_a_mount_at_or_below_workspaces_is_refused(project: Path, target: str) -> None:
    (project / "data").mkdir()
    write(project / ".devenv" / "devenv.toml",
          f'[[mounts]]\nsource = "data"\ntarget = "{target}"\n')
    with pytest.raises(ConfigError, match=r"mounts\[0\]\.target: .* is reserved") as info:
        container.config_mounts(identity.ProjectPath(str(project)), config.load(str(project)))
    assert "/workspaces holds the environment's workspaces" in (info.value.hint or "")


@pytest.mark.parametrize("target", ["/workspacesx", "/workspace-data", "/data/workspaces"])
def test_mounts_next_to_workspaces_are_fine(project: Path, target: str) -> None:
    (project / "data").mkdir()
    write(project / ".devenv" / "devenv.toml",
          f'[[mounts]]\nsource = "data"\ntarget = "{target}"\n')
    assert container.config_mounts(identity.ProjectPath(str(project)),
                                   config.load(str(project)))[1].count(f"target={target}") == 1


class FakeVolumes:
    """``docker volume inspect/create/rm`` on a dict of existing volumes (name -> labels)."""

    def __init__(self, existing: dict[str, dict[str, str]]) -> None:
        self.existing = dict(existing)
        self.calls: list[list[str]] = []

    def __call__(self, args: list[str], **kwargs: object) -> Result:
        self.calls.append(list(args))
        if args[:2] == ["volume", "inspect"]:
            if any(name not in self.existing for name in args[2:]):
                raise docker.NoSuchObject(f"Error: No such volume: {args[2]}")
            return Result(["docker", *args], 0, json.dumps(
                [{"Name": n, "Labels": self.existing[n]} for n in args[2:]]), "")
        if args[:2] == ["volume", "create"]:
            labels = dict(w.split("=", 1) for w in args[2:-1] if "=" in w)
            self.existing[args[-1]] = labels
        elif args[:2] == ["volume", "rm"]:
            del self.existing[args[2]]
        return Result(["docker", *args], 0, "", "")

    def created(self) -> list[str]:
        return sorted(c[-1] for c in self.calls if c[:2] == ["volume", "create"])


def fake(monkeypatch: pytest.MonkeyPatch, existing: dict[str, dict[str, str]]) -> FakeVolumes:
    got = FakeVolumes(existing)
    monkeypatch.setattr(docker, "docker", got)
    return got


def test_missing_volumes_are_made_labelled(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    got = fake(monkeypatch, {})
    made: list[str] = []
    volumes.ensure("p-proj", identity.ProjectPath(str(tmp_path)), "me", made)
    assert sorted(made) == got.created() == [HOME, WS]
    for volume in (HOME, WS):
        assert got.existing[volume] == {"devenv": "true", identity.LABEL_NAME: "p-proj",
                                        identity.LABEL_PATH: str(tmp_path),
                                        identity.LABEL_INSTANCE: "me"}
    volumes.discard(made)
    assert got.existing == {}


def test_an_existing_home_gets_a_workspaces_volume_next_to_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # An environment from before the workspaces volume: only the new one is made (and only
    # it would be discarded if this start failed).
    got = fake(monkeypatch, {HOME: {identity.LABEL_PATH: str(tmp_path)}})
    made: list[str] = []
    volumes.ensure("p-proj", identity.ProjectPath(str(tmp_path)), "me", made)
    assert made == got.created() == [WS]


def test_another_projects_workspaces_volume_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    mine = tmp_path / "mine"
    got = fake(monkeypatch, {WS: {identity.LABEL_PATH: str(other)}})
    made: list[str] = []
    with pytest.raises(ConflictError, match=f"the workspaces volume {WS} belongs to"):
        volumes.ensure("p-proj", identity.ProjectPath(str(mine)), "me", made)
    assert made == [HOME]  # made meanwhile: the failed start discards it
    other.rmdir()  # a project that no longer exists leaves its volume to the next one
    volumes.ensure("p-proj", identity.ProjectPath(str(mine)), "me", [])
    assert got.created() == [HOME]


def test_remove_says_what_was_there(monkeypatch: pytest.MonkeyPatch) -> None:
    got = fake(monkeypatch, {WS: {}})
    assert volumes.remove("p-proj") == [WS]
    assert got.existing == {} and volumes.remove("p-proj") == []


def test_a_container_without_the_workspaces_volume_is_drift(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drift.chain, "chain_key", lambda project, cfg: "image-key")
    now = drift.fingerprint(identity.ProjectPath(str(project)), config.load(str(project)))
    old: dict[str, Any] = {k: v for k, v in now.items() if k != "workspaces"}
    assert drift.differences(old, now) == [
        "workspaces (the container does not mount its workspaces volume at /workspaces)"]
    assert drift.differences(now, dict(now)) == []
