#!/usr/bin/env bash
# The GPU environment, only when asked (make setup-gpu): .venv-gpu with PyPI's CUDA build of torch and
# onnxruntime-gpu instead of the CPU builds; every other package as pinned in requirements.txt.
# Then, on the GPU machine: .venv-gpu/bin/python -m scripts.tools.gpu_served (docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null   # Java, and the gRPC stubs
if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "setup-gpu: note: no nvidia-smi on this machine; the environment is built, but the GPU check needs a GPU"
fi
[ -x .venv-gpu/bin/python ] || python3 -m venv .venv-gpu
mkdir -p build
{ grep -v -E '^(torch|onnxruntime)==' requirements.txt; echo "torch==2.13.0"; echo "onnxruntime-gpu==1.31.1"; } \
    > build/requirements-gpu.txt
stamp=.venv-gpu/.requirements.sha256
wanted=$(sha256sum build/requirements-gpu.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "setup-gpu: installing .venv-gpu (CUDA torch, onnxruntime-gpu; several GB)"
    .venv-gpu/bin/python -m pip install -q --upgrade pip
    .venv-gpu/bin/python -m pip install -q -r build/requirements-gpu.txt
    echo "$wanted" > "$stamp"
fi
.venv-gpu/bin/python -c 'import torch, onnxruntime as ort; print("setup-gpu: torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(), "| onnxruntime", ort.__version__, ort.get_available_providers())'
