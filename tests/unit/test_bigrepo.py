"""bench/bigrepo.py on a tiny repository: two builds are the same repository, it has the
shape docs/benchmarks.md describes, a build is reused as built, and the helpers of the
workspace-sync rows do what they say; bench/rows_sync.py's baselines run locally."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
TINY = {"commits": 200, "files": 40, "binary_mib": 0.05}


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


bigrepo = load("bigrepo")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout


def status(repo: Path) -> list[str]:
    return git(repo, "status", "--porcelain").splitlines()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return bigrepo.make(tmp_path / "big", **TINY)


def test_two_builds_are_the_same_repository(repo: Path, tmp_path: Path) -> None:
    other = bigrepo.make(tmp_path / "again", **TINY)
    assert git(repo, "rev-parse", "HEAD") == git(other, "rev-parse", "HEAD")
    assert bigrepo.refs(repo) == bigrepo.refs(other)
    changed = bigrepo.make(tmp_path / "seed2", **TINY, seed=2)
    assert git(changed, "rev-parse", "HEAD") != git(repo, "rev-parse", "HEAD")


def test_the_shape(repo: Path) -> None:
    assert git(repo, "rev-list", "--all", "--count").strip() == "200"
    assert git(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    branches = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()
    assert sorted(branches) == ["feature/search", "feature/wip", "main", "release/1.x"]
    tags = dict(line.split() for line in git(
        repo, "for-each-ref", "--format=%(refname:short) %(objecttype)", "refs/tags"
    ).splitlines())
    assert tags == {"v0.1": "commit", "v1.0": "tag", "v1.0.1": "commit", "v1.1": "tag",
                    "v2.0-rc1": "tag"}
    # feature/search is merged into main, feature/wip is not
    assert git(repo, "branch", "--merged", "main", "feature/*").split() == ["feature/search"]
    # checked out and clean; text files in nested directories, a few binary ones
    assert status(repo) == []
    tracked = git(repo, "ls-files").split()
    assert 35 <= len(tracked) <= 50
    assert any(p.count("/") >= 2 for p in tracked)
    assert any(p.startswith("assets/") for p in tracked)
    assert (repo / tracked[0]).is_file()
    stamp = bigrepo.read_stamp(repo)
    assert stamp["commits"] == 200 and stamp["head"] == git(repo, "rev-parse", "HEAD").strip()


def test_add_commit_adds_exactly_n_commits(repo: Path) -> None:
    before = int(git(repo, "rev-list", "--count", "HEAD"))
    head = bigrepo.add_commit(repo, 3)
    assert int(git(repo, "rev-list", "--count", "HEAD")) == before + 3
    assert head == git(repo, "rev-parse", "HEAD").strip()
    assert status(repo) == []
    # each a small commit: one file, one line
    stats = git(repo, "log", "-3", "--format=", "--numstat").split("\n")
    assert [line.split("\t")[:2] for line in stats if line] == [["1", "0"]] * 3


def test_modify_files_modifies_exactly_count_files(repo: Path) -> None:
    changed = bigrepo.modify_files(repo, 7)
    lines = status(repo)
    assert len(lines) == 7 and len(set(changed)) == 7
    assert sorted(line[3:] for line in lines) == sorted(changed)
    assert all(line.startswith(" M ") for line in lines)  # modified, nothing staged


def test_a_build_is_reused_as_it_was_built(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    stamp = (repo / ".git" / bigrepo.STAMP).read_text()
    packs = sorted((repo / ".git" / "objects" / "pack").iterdir())
    bigrepo.add_commit(repo, 2)
    bigrepo.modify_files(repo, 3)
    (repo / "untracked.txt").write_text("x\n")
    git(repo, "tag", "extra")
    assert bigrepo.make(repo, **TINY) == repo
    assert git(repo, "rev-parse", "HEAD") == head
    assert status(repo) == []
    assert "extra" not in git(repo, "tag").split()
    assert (repo / ".git" / bigrepo.STAMP).read_text() == stamp  # not built again
    assert sorted((repo / ".git" / "objects" / "pack").iterdir()) == packs


def test_other_parameters_build_again_but_a_foreign_directory_is_refused(
        repo: Path, tmp_path: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    assert git(bigrepo.make(repo, **{**TINY, "commits": 100}), "rev-parse", "HEAD") != head
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine\n")
    with pytest.raises(bigrepo.BigRepoError, match="not built by"):
        bigrepo.make(foreign, **TINY)
    assert (foreign / "keep.txt").read_text() == "mine\n"


def test_sync_baselines_run_locally(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))  # rows_sync imports its neighbours by name
    rows_sync = load("rows_sync")
    samples = rows_sync.baselines(repo, None, 1)
    assert set(samples) == {"bundle-push", "clone-mirror"}
    assert all(len(v) == 1 and v[0] > 0 for v in samples.values())
