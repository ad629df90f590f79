"""TorchServe handler for WLASL Pose-TGCN: keypoints in, top-k glosses out.

The archive (scripts/build_archives.py) holds the checkpoint, its config.ini, glosses.txt and a
model-config.yaml whose `handler:` section names the variant, the class count and the checkpoint's
sha256, which is verified before the weights are loaded.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ts.torch_handler.base_handler import BaseHandler

from handlers.keypoints import InputError
from handlers.labels import read_glosses
from handlers.payload import Decoded, Limits, Prediction, decode_request
from handlers.runtime import load_runtime
from handlers.tgcn_config import read_config

logger = logging.getLogger(__name__)

JSON = "application/json"


def request_body(row: dict[str, Any]) -> Any:
    """The payload TorchServe passed for one request: the body, or a multipart field named data."""
    for key in ("data", "body"):
        if row.get(key) is not None:
            return row[key]
    raise InputError("no request body found: send JSON with Content-Type: application/json (or a .npy array "
                     "as application/octet-stream); form-encoded bodies are not accepted")


class TGCNHandler(BaseHandler):
    """initialize -> preprocess (decode each request) -> inference (one batched forward) -> postprocess."""

    def initialize(self, context: Any) -> None:
        """Build the archive's runtime (eager or ONNX Runtime) from its config.ini and verified files."""
        model_dir = Path(context.system_properties["model_dir"])
        settings = dict((context.model_yaml_config or {}).get("handler") or {})
        for key in ("variant", "num_classes", "checkpoint_sha256"):
            if key not in settings:
                raise RuntimeError(f"model-config.yaml has no handler.{key}; build archives with scripts/build_archives.py")
        if settings.get("intra_op_threads"):
            torch.set_num_threads(int(settings["intra_op_threads"]))
        config = read_config(model_dir / "config.ini")
        num_classes = int(settings["num_classes"])
        weights = model_dir / context.manifest["model"]["serializedFile"]
        self.runtime = load_runtime(settings, model_dir, weights, config, num_classes)
        self.glosses = read_glosses(model_dir / "glosses.txt", num_classes)
        self.limits = Limits(num_samples=config.num_samples, num_classes=num_classes,
                             default_top_k=int(settings.get("default_top_k", 5)),
                             max_frames=int(settings.get("max_frames", 5000)))
        self.model_name = context.model_name
        self.model_version = str(context.manifest["model"].get("modelVersion", ""))
        self.context = context
        self.initialized = True
        logger.info("loaded %s v%s (%s, %d classes, hidden %d, %d stages) from %s, runtime %s",
                    self.model_name, self.model_version, settings["variant"], num_classes,
                    config.hidden_size, config.num_stages, weights.name, self.runtime.name)

    def preprocess(self, data: list[dict[str, Any]]) -> list[Decoded | InputError]:
        """Decode every request of the batch; a bad one becomes its own InputError."""
        items: list[Decoded | InputError] = []
        for row in data:
            try:
                items.append(decode_request(request_body(row), self.limits))
            except InputError as error:
                items.append(error)
        return items

    def inference(self, items: list[Decoded | InputError], *args: Any, **kwargs: Any) -> list[Prediction | InputError]:
        """Run all windows of the valid requests in one forward pass; average each request's window logits."""
        valid = [item for item in items if isinstance(item, Decoded)]
        if not valid:
            return list(items)
        logits = self.runtime(np.concatenate([item.windows for item in valid]))
        chunks = torch.split(logits, [len(item.windows) for item in valid])
        predictions = iter(Prediction(chunk.mean(dim=0), item.top_k) for chunk, item in zip(chunks, valid))
        return [next(predictions) if isinstance(item, Decoded) else item for item in items]

    def postprocess(self, results: list[Prediction | InputError]) -> list[bytes]:
        """Averaged logits -> top-k JSON; an InputError -> its own 4xx status and message."""
        responses = []
        for idx, result in enumerate(results):
            self.context.set_response_content_type(idx, JSON)
            if isinstance(result, InputError):
                self.context.set_response_status(result.status, str(result), idx=idx)
                body = {"error": str(result), "status": result.status}
            else:
                body = self.top_k(result)
            responses.append(json.dumps(body).encode("utf-8"))
        rejected = sum(isinstance(result, InputError) for result in results)
        logger.info("batch of %d request(s), %d rejected", len(results), rejected)
        return responses

    def top_k(self, prediction: Prediction) -> dict[str, Any]:
        """The response for one request: model, version and the k most probable glosses."""
        probabilities = torch.softmax(prediction.logits.double(), dim=-1)
        values, indices = torch.topk(probabilities, prediction.top_k)
        return {"model": self.model_name, "version": self.model_version,
                "top_k": [{"gloss": self.glosses[i], "index": i, "probability": p}
                          for p, i in zip(values.tolist(), indices.tolist())]}
