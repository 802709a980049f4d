#!/usr/bin/env bash
# Installs redis-server (the OS package) if it is missing: failsafe-redis's
# tests start their own redis-server on a free loopback port and stop it.
# Under CI (CI=true) those tests fail, never skip, when it cannot start.
set -euo pipefail
if ! command -v redis-server >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
    if command -v apt-get >/dev/null 2>&1; then
        $SUDO apt-get update -qq
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    fi
fi
command -v redis-server >/dev/null 2>&1 || {
    echo "ERROR: redis-server is not installed and apt-get could not install it" >&2
    exit 1
}
redis-server --version
