"""A stand-in for an environment's published SSH port."""

from __future__ import annotations

import contextlib
import socket
import threading


class Greeter:
    """A listener that greets like an SSH server (or stays silent, like a program that took
    the port of an environment removed behind devenv's back)."""

    def __init__(self, greeting: bytes) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.greeting = greeting
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):  # the client may reset
                if self.greeting:
                    conn.sendall(self.greeting)
                conn.recv(1)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self.sock.close()
