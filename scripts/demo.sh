#!/usr/bin/env bash
# End-to-end demo: build the archives, start TorchServe, classify WLASL clip 32162 ("language"),
# print the top-5 glosses, stop TorchServe. KEEP_RUNNING=1 leaves the server up (make stop ends it).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
clip=$($PY -c 'from scripts.wlasl_data import reference_clip; print(reference_clip())')

$PY -m scripts.archive.build_archives
$PY -m scripts.serve.torchserve_ctl stop >/dev/null
$PY -m scripts.serve.torchserve_ctl start
if [ "${KEEP_RUNNING:-0}" != "1" ]; then
    trap '$PY -m scripts.serve.torchserve_ctl stop' EXIT
fi
for model in $($PY -c 'from pathlib import Path; from scripts.serve.torchserve_ctl import default_models; print(" ".join(default_models(Path("model_store"))))'); do
    $PY -m scripts.client.predict "$clip" --model "$model" --top-k 5
done
