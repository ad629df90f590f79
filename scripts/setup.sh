#!/usr/bin/env bash
# Install everything tgcn-serve needs: Java 11+ (apt-get, if missing), .venv with requirements.txt.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

java_major() {
    java -version 2>&1 | sed -n 's/.*version "\([0-9]*\)\(\.[0-9]*\)*.*/\1/p' | head -n 1
}

if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" -lt 11 ] 2>/dev/null; then
    echo "setup: installing Java 17 (TorchServe needs Java 11+)"
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi
echo "setup: java $(java_major) at $(command -v java)"

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=.venv/.requirements.sha256
wanted=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "setup: installing Python packages into .venv (torch CPU build, TorchServe 0.12)"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -r requirements.txt
    echo "$wanted" > "$stamp"
fi
echo "setup: .venv ready ($(.venv/bin/python -c 'import torch, ts; print("torch", torch.__version__, "torchserve", ts.__version__)'))"

# gRPC stubs from the protos in the installed TorchServe jar, into build/grpc/ (git-ignored).
.venv/bin/python -m scripts.grpc_stubs
