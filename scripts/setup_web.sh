#!/usr/bin/env bash
# What the browser page needs, beyond scripts/setup.sh (which `make demo` runs and this does not touch):
#   make web:  Node/npm (apt-get, if missing), aiohttp in .venv (requirements-web.txt),
#              web/node_modules from web/package-lock.json (npm ci: MediaPipe Holistic's wasm and models);
#   --browser (make test): also Debian's chromium and ffmpeg for the browser tests.
# Idempotent: a second run only checks. Runs after scripts/setup.sh (.venv must exist).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
if [ "${1:-}" = "--browser" ]; then
    [ -x /usr/lib/chromium/chromium ] || packages+=(chromium)
    command -v ffmpeg >/dev/null 2>&1 || packages+=(ffmpeg)
fi
if [ ${#packages[@]} -gt 0 ]; then
    echo "setup-web: installing ${packages[*]} (apt-get)"
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
fi

stamp=.venv/.requirements-web.sha256
wanted=$(sha256sum requirements-web.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "setup-web: installing the gateway and browser-test packages into .venv (requirements-web.txt)"
    .venv/bin/python -m pip install -q -r requirements-web.txt
    echo "$wanted" > "$stamp"
fi

stamp=web/node_modules/.package-lock.sha256
wanted=$(sha256sum web/package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "setup-web: npm ci in web/ (@mediapipe/holistic, ~65 MB, served from this origin)"
    (cd web && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
    echo "$wanted" > "$stamp"
fi
test -f web/node_modules/@mediapipe/holistic/holistic.js
echo "setup-web: ready (node $(node --version), $(.venv/bin/python -c 'import aiohttp; print("aiohttp", aiohttp.__version__)'))"
