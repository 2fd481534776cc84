#!/usr/bin/env bash
# Create .venv (Python 3.11+) with devenv installed in editable mode plus the test tools.
# Idempotent: reinstalls only when pyproject.toml changed. Prints the venv's bin dir.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${DEVENV_VENV:-.venv}

die() { printf 'venv: error: %s\n' "$1" >&2; [ -n "${2:-}" ] && printf 'venv: hint: %s\n' "$2" >&2; exit 1; }

find_python() {
  local py
  for py in python3 python3.13 python3.12 python3.11; do
    if command -v "$py" >/dev/null && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      echo "$py"; return
    fi
  done
  die "Python 3.11 or newer is needed" "install it (Debian 12: apt-get install python3)"
}

if [ ! -x "$VENV/bin/python" ]; then
  py=$(find_python)
  if ! "$py" -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "venv: installing python3-venv" >&2
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      "$py" -m venv "$VENV"
    else
      die "'$py -m venv' failed" "install your distribution's venv package (python3-venv)"
    fi
  fi
fi

stamp="$VENV/.devenv-installed"
want=$(cat pyproject.toml bin/devenv | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "venv: installing devenv and test tools into $VENV" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    --config-settings editable_mode=compat -e '.[test]' 2>&1 | grep -v "^WARNING: Location" >&2 || true
  "$VENV/bin/python" -c 'import devenv, pytest, xdist, hypothesis' \
    || die "installing into $VENV failed" "see the pip output above"
  echo "$want" > "$stamp"
fi
# Bytecode for the editable install (pip compiles only regular installs): start-up time is
# part of devenv's contract, and a Python told not to write .pyc files still reads them.
"$VENV/bin/python" -m compileall -q src/devenv >/dev/null || true
echo "$PWD/$VENV/bin"
