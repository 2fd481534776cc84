"""`devenv [PATH]` attaches a real interactive shell (a PTY), and sessions are equal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from typing import Any

from .conftest import DEVENV, Devenv


class Session:
    """devenv running on a pseudo-terminal, as in a user's terminal."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True)
        os.close(slave)
        self.output = b""

    def send(self, text: str) -> None:
        os.write(self.master, text.encode())

    def expect(self, needle: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while needle.encode() not in self.output:
            left = deadline - time.monotonic()
            assert left > 0, f"did not see {needle!r} in {self.output[-2000:]!r}"
            ready, _, _ = select.select([self.master], [], [], min(left, 1))
            if ready:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:
                    break
        return self.output.decode(errors="replace")

    def close(self) -> int:
        code = self.proc.wait(30)
        os.close(self.master)
        return code


def test_attach_gives_an_interactive_shell_in_the_project(dv: Devenv,
                                                          make_project: Any) -> None:
    project = make_project("term")
    env = {**dv.env, "TERM": "xterm-256color"}
    one = Session([*DEVENV, str(project)], env)
    one.send("echo TTY=$(tty) TERM=$TERM; pwd; echo MARK-$((6*7))\n")
    out = one.expect("MARK-42")
    assert "TTY=/dev/pts/" in out and "TERM=xterm-256color" in out
    assert "/workspace/term" in out

    # A second session is equal: same container, sees the first one's work.
    one.send("echo shared > /tmp/s; echo WROTE\n")
    one.expect("WROTE")
    two = Session([*DEVENV, str(project)], env)
    two.send("cat /tmp/s; exit 3\n")
    assert "shared" in two.expect("shared")
    assert two.close() == 3  # the shell's exit code passes through
    one.send("exit\n")
    assert one.close() == 0
    # Leaving every shell never stops the environment.
    assert len(dv.containers()) == 1
    assert dv.run("exec", str(project), "--", "true").returncode == 0


def test_attach_without_a_terminal_still_runs(dv: Devenv, make_project: Any) -> None:
    project = make_project()
    got = subprocess.run([*DEVENV, str(project)], input="echo piped-$((1+1))\n",
                         capture_output=True, text=True, env=dv.env, timeout=300, check=False)
    assert got.returncode == 0, got.stderr
    assert "piped-2" in got.stdout
