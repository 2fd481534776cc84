#!/usr/bin/env bash
# README command 2 (and CI): the whole test suite against a real Docker engine and OpenSSH.
#   engine -> .venv -> ruff -> mypy (strict) -> pytest (unit + integration, in parallel).
# Extra arguments go to pytest, e.g. scripts/test.sh tests/unit -k ports
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/engine.sh
bin=$(bash scripts/venv.sh)
# The tests drive real clients: rsync (SSH-client tests), lua5.4 (the WezTerm module),
# tmux (session scripts run against a private tmux server) and getfacl/setfacl (package acl:
# the oracle for the write grant's ACL edits).
missing=""
for tool in rsync lua5.4 tmux; do
  command -v "$tool" >/dev/null || missing="$missing $tool"
done
command -v getfacl >/dev/null || missing="$missing acl"
if [ -n "$missing" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "test: installing$missing" >&2
  # shellcheck disable=SC2086
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing; } >/dev/null
fi

echo "== ruff"
"$bin/ruff" check src tests bench
echo "== mypy"
"$bin/mypy"
echo "== pytest"
# The engine was made ready above: integration tests must fail, not skip, if it is not.
export DEVENV_TEST_REQUIRE_ENGINE=1
exec "$bin/python" -m pytest -n "${DEVENV_TEST_WORKERS:-4}" "$@"
