#!/usr/bin/env bash
# Make sure a Docker engine answers, the base image `debian:bookworm-slim` exists, and the
# OpenSSH client tools devenv uses (ssh, ssh-keygen) are installed.
#
# Idempotent: on a workstation where `docker info` already works it only checks the base
# image. On a bare Debian machine run as root it installs Debian's docker.io, starts dockerd
# in the background (log: $DEVENV_BOOTSTRAP_DIR/dockerd.log) and, when no registry answers,
# builds the base image locally with debootstrap from this machine's own apt mirror.
#
# Exit codes: 0 ready; 1 could not make the engine or the base image ready (message says why).
set -euo pipefail

BASE_IMAGE=debian:bookworm-slim
SUITE=bookworm
if [ "$(id -u)" = 0 ]; then
  WORK=${DEVENV_BOOTSTRAP_DIR:-/var/lib/devenv-bootstrap}
else
  WORK=${DEVENV_BOOTSTRAP_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/devenv/bootstrap}
fi
ENGINE_TIMEOUT=${DEVENV_ENGINE_TIMEOUT:-90}

log() { printf 'engine: %s\n' "$*" >&2; }
die() {
  printf 'engine: error: %s\n' "$1" >&2
  [ -n "${2:-}" ] && printf 'engine: hint: %s\n' "$2" >&2
  exit 1
}

engine_answers() { docker info >/dev/null 2>&1; }

is_debian_root() { [ "$(id -u)" = 0 ] && [ -r /etc/debian_version ] && command -v apt-get >/dev/null; }

apt_install() {
  # `apt-get update` only once per run, and only when something is missing.
  if [ -z "${APT_UPDATED:-}" ]; then
    log "apt-get update"
    apt-get update -qq >"$WORK/apt.log" 2>&1 || die "apt-get update failed (see $WORK/apt.log)" \
      "check this machine's apt sources"
    APT_UPDATED=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
    >>"$WORK/apt.log" 2>&1 || die "apt-get install $* failed (see $WORK/apt.log)"
}

start_dockerd() {
  if ! command -v dockerd >/dev/null; then
    apt_install docker.io
  fi
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    log "starting docker with systemctl"
    systemctl start docker || true
  fi
  if ! engine_answers; then
    if pgrep -x dockerd >/dev/null; then
      log "dockerd is already starting; waiting"
    else
      log "starting dockerd in the background (log: $WORK/dockerd.log)"
      # setsid: dockerd must outlive this script and the shell that ran it.
      setsid dockerd >>"$WORK/dockerd.log" 2>&1 </dev/null &
    fi
  fi
  local waited=0
  until engine_answers; do
    if [ "$waited" -ge "$ENGINE_TIMEOUT" ]; then
      tail -n 5 "$WORK/dockerd.log" >&2 2>/dev/null || true
      die "the Docker engine did not answer within ${ENGINE_TIMEOUT}s" "read $WORK/dockerd.log"
    fi
    sleep 1
    waited=$((waited + 1))
  done
  log "engine ready after ${waited}s"
}

# The machine's own Debian mirror for $SUITE, from its apt sources (never a hard-coded host).
apt_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk -v suite="$SUITE" '
      BEGIN { RS = ""; FS = "\n" }
      {
        uri = ""; ok = 0; deb = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/)   { split($i, a, /[ \t]+/); uri = a[2] }
          if ($i ~ /^Types:/ && $i ~ /[ \t]deb([ \t]|$)/) deb = 1
          if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) ok = 1 }
        }
        if (ok && deb && uri != "") { print uri; exit }
      }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk -v suite="$SUITE" '$1 == "deb" {
        i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
        if ($(i + 1) == suite) { print $i; exit }
      }' "$f"
  done
  # A host on another Debian release: its Debian archive serves every suite, so use it.
  # Only binary ("deb") entries of a .../debian archive count, never -security or others.
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk 'BEGIN { RS = ""; FS = "\n" }
      {
        uri = ""; deb = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); uri = a[2] }
          if ($i ~ /^Types:/ && $i ~ /[ \t]deb([ \t]|$)/) deb = 1
        }
        if (deb && uri ~ /\/debian\/?$/) { print uri; exit }
      }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                       if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f"
  done
  return 0
}

debootstrap_base() {
  local tarball="$WORK/$SUITE-minbase.tar"
  if [ ! -s "$tarball" ]; then
    is_debian_root || die "no registry answers and $BASE_IMAGE cannot be built here" \
      "run this script as root on Debian, or 'docker pull $BASE_IMAGE' where a registry is reachable"
    local mirror
    mirror=$(apt_mirror | head -n 1) || true
    [ -n "$mirror" ] || die "no Debian '$SUITE' mirror found in /etc/apt/sources*" \
      "add a '$SUITE' entry to the apt sources, or pull $BASE_IMAGE"
    command -v debootstrap >/dev/null || apt_install debootstrap
    local root="$WORK/rootfs.$$"
    rm -rf "$root"
    log "debootstrap --variant=minbase $SUITE from $mirror (a few minutes, cached afterwards)"
    debootstrap --variant=minbase "$SUITE" "$root" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
      || { rm -rf "$root"; die "debootstrap failed (see $WORK/debootstrap.log)"; }
    # Keep the host's own bookworm sources (updates, security) when the host runs bookworm.
    if grep -qs "VERSION_CODENAME=$SUITE" /etc/os-release; then
      cp -a /etc/apt/sources.list.d/*.sources "$root/etc/apt/sources.list.d/" 2>/dev/null && rm -f "$root/etc/apt/sources.list" || true
    fi
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
  fi
  log "importing $tarball as $BASE_IMAGE"
  docker import --change 'CMD ["bash"]' "$tarball" "$BASE_IMAGE" >/dev/null \
    || die "docker import of $tarball failed"
}

ensure_base_image() {
  if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    return
  fi
  log "pulling $BASE_IMAGE"
  if timeout 60 docker pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
    return
  fi
  log "no registry answered; building $BASE_IMAGE locally"
  debootstrap_base
}

ensure_ssh_tools() {
  command -v ssh >/dev/null && command -v ssh-keygen >/dev/null && return
  is_debian_root || die "the OpenSSH client (ssh, ssh-keygen) is not installed" \
    "install it (Debian/Ubuntu: apt-get install openssh-client)"
  apt_install openssh-client
}

mkdir -p "$WORK"
ensure_ssh_tools
if ! command -v docker >/dev/null; then
  is_debian_root || die "the docker CLI is not installed" "install Docker (https://docs.docker.com/engine/install/)"
  apt_install docker.io
fi
if ! engine_answers; then
  is_debian_root || die "the Docker engine is not running" \
    "start it (e.g. 'sudo systemctl start docker'), or run this script as root on Debian to install one"
  start_dockerd
fi
ensure_base_image
log "ready: $(docker version --format 'engine {{.Server.Version}}' 2>/dev/null), $BASE_IMAGE present"
