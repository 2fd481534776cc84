#!/usr/bin/env bash
# README command 1: set everything up and run devenv on the bundled example project.
#   engine (scripts/engine.sh) -> .venv (scripts/venv.sh) -> devenv up examples/hello
#   -> a command inside -> how to attach and how to ssh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/engine.sh
bin=$(bash scripts/venv.sh)
export PATH="$bin:$PATH"

echo
echo "== devenv up examples/hello"
devenv up examples/hello
echo
echo "== devenv exec examples/hello -- ./hello.sh"
devenv exec examples/hello -- ./hello.sh
echo
ssh_line=$(devenv up --json examples/hello | python3 -c 'import json, shlex, sys; print(shlex.join(json.load(sys.stdin)["ssh_command"]))')
cat <<MSG
== next
attach a shell:   $bin/devenv examples/hello
ssh into it:      $ssh_line
list / stop:      $bin/devenv list ; $bin/devenv stop examples/hello
(add $bin to PATH to type just 'devenv')
MSG
