#!/usr/bin/env bash
# Runs inside the devenv environment: say where we are and who we are.
echo "hello from $(hostname) as $(id -un) (uid $(id -u)) in $PWD"
echo "git $(git --version | cut -d' ' -f3), $(bash --version | head -n1 | cut -d' ' -f4)"
