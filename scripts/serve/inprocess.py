"""Run an archive's handler in this process as a TorchServe worker would, without a server.

The archive is unpacked into a work directory and the handler is initialised from it with the
worker's Context (on `cuda:<gpu_id>` when a GPU id is given and CUDA is usable).
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import yaml
from ts.context import Context, RequestProcessor

from handlers.tgcn_handler import TGCNHandler

TS_VERSION = "0.12.0"


def archive_context(mar: Path, workdir: Path, batch_size: int = 8, gpu_id: int | None = None,
                    handler_settings: dict[str, Any] | None = None) -> Context:
    """Unpack `mar` into `workdir` and build the Context a worker would get for it (`handler_settings`
    override the archive's `handler:` section, e.g. intra_op_threads)."""
    workdir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(mar) as archive:
        archive.extractall(workdir)
    manifest = json.loads((workdir / "MAR-INF" / "MANIFEST.json").read_text(encoding="utf-8"))
    config_file = manifest["model"].get("configFile")
    model_config = yaml.safe_load((workdir / config_file).read_text(encoding="utf-8")) if config_file else {}
    if handler_settings:
        model_config.setdefault("handler", {}).update(handler_settings)
    context = Context(manifest["model"]["modelName"], str(workdir), manifest, batch_size, gpu_id, TS_VERSION,
                      model_yaml_config=model_config)
    context.request_processor = [RequestProcessor({}) for _ in range(batch_size)]
    return context


def open_handler(mar: Path, workdir: Path, gpu_id: int | None = None, batch_size: int = 8,
                 handler_settings: dict[str, Any] | None = None) -> TGCNHandler:
    """Unpack `mar` into `workdir` and return its initialised handler."""
    handler = TGCNHandler()
    handler.initialize(archive_context(mar, workdir, batch_size, gpu_id, handler_settings))
    return handler


def classify(handler: TGCNHandler, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One batch of request bodies -> their JSON answers (an error answer holds "error" and "status")."""
    handler.context.request_processor = [RequestProcessor({}) for _ in bodies]
    return handler.postprocess(handler.inference(handler.preprocess([{"body": body} for body in bodies])))
