from __future__ import annotations

import os
import subprocess
from pathlib import Path

from devenv.envs import index

from .greeter import Greeter


def write_index(home: Path, text: str) -> None:
    (home / "state").mkdir(parents=True, exist_ok=True)
    (home / "state" / "index").write_text(text)


def test_lookup_needs_index_entry_and_an_ssh_greeting(devenv_home: Path, tmp_path: Path) -> None:
    project = tmp_path / "my proj"
    project.mkdir()
    assert index.lookup(str(project)) is None  # no index yet
    server = Greeter(b"SSH-2.0-OpenSSH_9.2\r\n")
    port = server.port
    stamp = index.config_stamp(str(project))
    entries = (f"{project}x\tother\t1\t{stamp}\tid\n"
               f"{project}\tx-my-proj\t{port}\t{stamp}\tid\n")
    write_index(devenv_home, entries)  # no instance header: not an index devenv wrote
    assert index.lookup(str(project)) is None
    write_index(devenv_home, "instance\tabc123\n" + entries)
    hit = index.lookup(str(project))
    assert hit is not None
    assert (hit.container, hit.workspace, hit.instance) == (
        "devenv-x-my-proj", "/workspace/my proj", "abc123")
    # A config file changed since the start: the full path looks closer (drift).
    (project / ".devenv").mkdir()
    (project / ".devenv" / "devenv.toml").write_text("[env]\nA = '1'\n")
    assert index.lookup(str(project)) is None
    (project / ".devenv" / "devenv.toml").unlink()
    (project / ".devenv").rmdir()
    assert index.lookup(str(project)) is not None
    server.close()
    assert index.lookup(str(project)) is None  # port closed: the environment is not running
    # Another program took the port (it accepts, but is no SSH server): not running either.
    silent = Greeter(b"")
    entries = f"{project}\tx-my-proj\t{silent.port}\t{stamp}\tid\n"
    write_index(devenv_home, "instance\tabc123\n" + entries)
    assert index.lookup(str(project)) is None
    silent.close()


def test_exec_argv() -> None:
    target = index.Target("devenv-x", "/workspace/x", "abc123")
    assert index.exec_argv(target, ["id", "-u"], tty=False) == [
        "docker", "exec", "-i", "-w", "/workspace/x", "devenv-x",
        "sh", "-c", index.GUARD, "devenv-guard", "abc123", "id", "-u"]
    tty = index.exec_argv(target, ["bash"], tty=True)
    assert tty[:4] == ["docker", "exec", "-i", "-t"]


def run_guard(env_instance: str | None, wanted: str, *command: str) -> tuple[int, str, str]:
    """The guard script under a real sh, with the container's environment simulated."""
    env = {"PATH": os.environ["PATH"], "HOSTNAME": "box"}
    if env_instance is not None:
        env["DEVENV_INSTANCE"] = env_instance
    proc = subprocess.run(["sh", "-c", index.GUARD, "devenv-guard", wanted, *command],
                          env=env, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def test_guard_runs_the_command_only_in_our_container() -> None:
    assert run_guard("abc", "abc", "sh", "-c", 'printf "%s|" "$@"; exit 7', "x",
                     "a b", "$(y)") == (7, "a b|$(y)|", "")
    code, out, err = run_guard("other", "abc", "touch", "/tmp/never")
    assert (code, out) == (125, "") and "box belongs to another devenv installation" in err
    assert run_guard(None, "abc", "true")[0] == 125


def test_the_stamp_covers_every_input_of_the_environment(tmp_path: Path,
                                                         devenv_home: Path) -> None:
    """A tool recipe under .devenv/tools and a Dockerfile configured outside .devenv feed
    the image: editing either is drift the fast path must not skip (it saw only the
    project file and .devenv/Dockerfile)."""
    project = tmp_path / "p"
    recipe = project / ".devenv" / "tools" / "mytool"
    recipe.mkdir(parents=True)
    (recipe / "Dockerfile").write_text("FROM base\n")
    elsewhere = project / "docker" / "Dockerfile"
    elsewhere.parent.mkdir()
    elsewhere.write_text("FROM base\n")
    (project / ".devenv" / "devenv.toml").write_text('dockerfile = "../docker/Dockerfile"\n')
    stamps = {index.config_stamp(str(project))}

    def touched(path: Path) -> str:
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        return index.config_stamp(str(project))

    for path in (recipe / "Dockerfile", elsewhere, project / ".devenv" / "devenv.toml"):
        stamp = touched(path)
        assert stamp not in stamps, path
        stamps.add(stamp)
    (recipe / "extra.sh").write_text("true\n")  # a new file in a recipe
    assert index.config_stamp(str(project)) not in stamps
    # A link planted in .devenv is stamped as a link, never followed.
    (project / ".devenv" / "loop").symlink_to(project)
    assert len(index.config_stamp(str(project))) == 20


def test_the_stamp_never_blocks_nor_wanders_on_what_a_container_planted(
        tmp_path: Path, devenv_home: Path) -> None:
    """.devenv/ is container-writable: a FIFO as the project file, a link as .devenv or
    inside it, and a huge directory all give a stamp at once (review finding: a FIFO hung
    every exec of the project)."""
    import threading

    project = tmp_path / "p"
    devenv_dir = project / ".devenv"
    devenv_dir.mkdir(parents=True)
    os.mkfifo(devenv_dir / "devenv.toml")
    (devenv_dir / "up").symlink_to(tmp_path)  # a loop through a link
    many = devenv_dir / "many"
    many.mkdir()
    for i in range(2000):
        (many / f"f{i}").touch()
    done: list[str] = []
    worker = threading.Thread(target=lambda: done.append(index.config_stamp(str(project))),
                              daemon=True)
    worker.start()
    worker.join(10)
    assert done, "config_stamp blocked"
    # .devenv itself a link (to a tree that changes): not followed.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    other = tmp_path / "q"
    other.mkdir()
    (other / ".devenv").symlink_to(elsewhere)
    before = index.config_stamp(str(other))
    (elsewhere / "new").write_text("x")
    assert index.config_stamp(str(other)) == before
