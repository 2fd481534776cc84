from __future__ import annotations

from devenv.cli import run

run()
