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
.venv/bin/python -m scripts.client.grpc_stubs

# The video path (MediaPipe pins numpy<2, protobuf<5): its own venv, see requirements-video.txt.
if [ ! -x .venv-video/bin/python ]; then
    python3 -m venv .venv-video
fi
stamp=.venv-video/.requirements.sha256
wanted=$(sha256sum requirements-video.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "setup: installing the video path into .venv-video (MediaPipe 0.10.21, PyAV)"
    .venv-video/bin/python -m pip install -q --upgrade pip
    .venv-video/bin/python -m pip install -q -r requirements-video.txt
    echo "$wanted" > "$stamp"
fi
echo "setup: .venv-video ready ($(.venv-video/bin/python -c 'import mediapipe, av; print("mediapipe", mediapipe.__version__, "av", av.__version__)'))"
