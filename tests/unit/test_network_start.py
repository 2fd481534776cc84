"""The environment's own network (``container.ensure_network``) against a fake docker CLI:
made outright as a rule, and an existing one looked at before it is reused or refused."""

from __future__ import annotations

from typing import Any

import pytest

from devenv.engine import docker
from devenv.envs import container, identity
from devenv.errors import ConflictError
from devenv.proc import Result

PROJECT = identity.ProjectPath("/p/proj")
NET = container.network_name("p-proj")


class FakeNetworks:
    def __init__(self, existing: dict[str, Any] | None) -> None:
        self.existing = existing
        self.calls: list[list[str]] = []

    def __call__(self, args: list[str], **kwargs: object) -> Result:
        self.calls.append(list(args))
        if args[:2] == ["network", "create"]:
            if self.existing is not None:
                raise docker.NetworkExists(f"network with name {NET} already exists")
            self.existing = {"Id": "new", "Name": NET}
        elif args[:2] == ["network", "rm"]:
            self.existing = None
        elif args[:2] == ["network", "inspect"]:
            import json

            return Result(["docker", *args], 0, json.dumps(
                [self.existing] if self.existing else []), "")
        return Result(["docker", *args], 0, "", "")

    def verbs(self) -> list[str]:
        return [c[1] for c in self.calls]


def network(*, instance: str = "me", devenv: str = "true", path: str = PROJECT.path,
            host_access: bool = False, users: int = 0) -> dict[str, Any]:
    return {"Id": "old", "Name": NET,
            "Labels": {"devenv": devenv, identity.LABEL_INSTANCE: instance,
                       identity.LABEL_PATH: path},
            "Options": {container.BRIDGE_OPTION: container.bridge_name(
                "p-proj", host_access=host_access)},
            "Containers": {str(i): {"Name": f"c{i}"} for i in range(users)}}


def run(monkeypatch: pytest.MonkeyPatch, existing: dict[str, Any] | None,
        **kwargs: Any) -> FakeNetworks:
    fake = FakeNetworks(existing)
    monkeypatch.setattr(docker, "docker", fake)
    assert container.ensure_network("p-proj", PROJECT, "me", **kwargs) == NET
    return fake


def test_a_new_network_is_made_in_one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(monkeypatch, None).verbs() == ["create"]


def test_an_unused_one_of_ours_for_the_same_project_is_reused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(monkeypatch, network()).verbs() == ["create", "inspect"]


@pytest.mark.parametrize("existing", [
    network(instance="other"),  # another installation's leftover
    network(path="/elsewhere"),  # made for another project of the same name
    network(host_access=True),  # made for the other host_access
])
def test_other_leftovers_are_made_anew(existing: dict[str, Any],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(monkeypatch, existing).verbs() == ["create", "inspect", "rm", "create"]


@pytest.mark.parametrize(("existing", "message"), [
    (network(devenv="false"), "exists and is not devenv's"),
    (network(users=1), "is in use by c0"),
])
def test_a_network_in_use_or_not_devenvs_is_refused(existing: dict[str, Any], message: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNetworks(existing)
    monkeypatch.setattr(docker, "docker", fake)
    with pytest.raises(ConflictError, match=message):
        container.ensure_network("p-proj", PROJECT, "me")
    assert "rm" not in fake.verbs()
