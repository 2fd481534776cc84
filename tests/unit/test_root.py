"""Which project a directory belongs to (devenv.envs.root), on real directories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devenv.envs import root


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home directory of its own (the walk stops below it) with a repository in it."""
    home = tmp_path / "home"
    (home / "repo" / "api" / "src" / "deep").mkdir(parents=True)
    (home / "repo" / "web" / "src").mkdir(parents=True)
    (home / "repo" / ".git").mkdir()
    (home / "repo" / "api" / ".devenv").mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def test_the_nearest_devenv_dir_wins_over_the_git_top(tree: Path) -> None:
    api = str(tree / "repo" / "api")
    assert root.find(f"{api}/src/deep") == (api, root.MARKED)
    assert root.find(api) == (api, root.MARKED)
    assert root.inside(api, f"{api}/src/deep") == "src/deep"
    assert root.inside(api, api) == ""


def test_else_the_top_of_the_git_work_tree(tree: Path) -> None:
    repo = str(tree / "repo")
    assert root.find(f"{repo}/web/src") == (repo, root.GIT)
    # a submodule or nested work tree: its own .git (a file) is the nearer top
    (tree / "repo" / "web" / ".git").write_text("gitdir: ../.git/modules/web\n")
    assert root.find(f"{repo}/web/src") == (f"{repo}/web", root.GIT)


def test_a_known_project_is_its_own_root(tree: Path) -> None:
    src = str(tree / "repo" / "api" / "src")
    assert root.find(f"{src}/deep", known={src}) == (src, root.KNOWN)


def test_else_the_directory_itself_and_never_home_or_above(tree: Path, tmp_path: Path) -> None:
    plain = tree / "notes" / "sub"
    plain.mkdir(parents=True)
    (tmp_path / ".devenv").mkdir()  # above the home directory: never looked at
    (tree / ".devenv").mkdir()  # the home directory itself: never a project
    assert root.find(str(plain)) == (str(plain), "")
    assert root.find(str(tree)) == (str(tree), "")
    outside = tmp_path / "elsewhere" / "x"
    outside.mkdir(parents=True)
    assert root.find(str(outside)) == (str(tmp_path), root.MARKED)  # outside home: up to /


def test_a_devenv_link_is_no_marker(tree: Path) -> None:
    """A .devenv symlink (which an environment could plant anywhere in the project) does
    not make a project; a .devenv file neither."""
    web = tree / "repo" / "web"
    os.symlink(tree / "repo" / "api" / ".devenv", web / ".devenv")
    (web / "src" / ".devenv").write_text("")
    assert root.find(str(web / "src")) == (str(tree / "repo"), root.GIT)


def test_the_note_says_which_and_why(tree: Path) -> None:
    api = str(tree / "repo" / "api")
    assert root.note(api, api, root.MARKED) == ""
    note = root.note(api, f"{api}/src", root.MARKED)
    assert note == f"devenv: project {api} (the nearest with .devenv/); --here for {api}/src itself"


def test_a_known_project_wins_over_a_devenv_dir_below_it(tree: Path) -> None:
    """The environment can plant .devenv/ anywhere in its project: that must not make the
    user's next command start another environment from the agent's config."""
    repo = str(tree / "repo")
    assert root.find(f"{repo}/api/src", known={repo}) == (repo, root.KNOWN)


def test_only_a_path_that_looks_like_one_walks_up() -> None:
    assert root.walks(".") and root.walks("..") and root.walks("./x") and root.walks("/a")
    assert root.walks("a/b")
    assert not root.walks("other-env") and not root.walks("")


def test_the_note_shows_control_characters_escaped(tree: Path) -> None:
    note = root.note("/p", "/p/x\x1b]0;pwned\x07", root.KNOWN)
    assert "\x1b" not in note and "\x07" not in note
