#!/usr/bin/env bash
# README command 2 (and CI): the whole test suite against a real Docker engine and OpenSSH.
#   engine -> .venv -> ruff -> mypy (strict) -> pytest (unit + integration, in parallel).
# Extra arguments go to pytest, e.g. scripts/test.sh tests/unit -k ports
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/engine.sh
bin=$(bash scripts/venv.sh)

echo "== ruff"
"$bin/ruff" check src tests bench
echo "== mypy"
"$bin/mypy"
echo "== pytest"
# The engine was made ready above: integration tests must fail, not skip, if it is not.
export DEVENV_TEST_REQUIRE_ENGINE=1
exec "$bin/python" -m pytest -n "${DEVENV_TEST_WORKERS:-4}" "$@"
