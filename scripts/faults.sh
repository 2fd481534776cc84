#!/usr/bin/env bash
# The fault tests alone (docs/reliability.md): paused and hung environments, a cut network,
# a locked state database, a full disk, a container removed behind devenv's back, a killed
# `devenv up`, interrupted commands. They are part of scripts/test.sh too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/engine.sh
bin=$(bash scripts/venv.sh)
export DEVENV_TEST_REQUIRE_ENGINE=1
exec "$bin/python" -m pytest -n "${DEVENV_TEST_WORKERS:-2}" tests/integration/faults "$@"
