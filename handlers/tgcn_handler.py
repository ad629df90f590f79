"""TorchServe handler for WLASL Pose-TGCN: keypoints in, top-k glosses out.

The archive (scripts/archive/build_archives.py) holds the checkpoint, its config.ini, glosses.txt and a
model-config.yaml whose `handler:` section names the variant, the class count and the checkpoint's
sha256, which is verified before the weights are loaded.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ts.torch_handler.base_handler import BaseHandler

from handlers.device import select_device
from handlers.envelopes import NATIVE, error_body, unwrap, wrap
from handlers.errors import InputError
from handlers.framing import STATS_FILE, load_settings
from handlers.labels import read_glosses
from handlers.log_hygiene import install as quiet_worker_logs
from handlers.metrics import (INFERENCE_TIME, POSTPROCESS_TIME, PREPROCESS_TIME, REJECTED, HandlerMetrics,
                              timed_step)
from handlers.payload import Batch, Decoded, Limits, Prediction, body_content_type, decode_request, request_body
from handlers.runtime import load_runtime
from handlers.tgcn_config import read_config

logger = logging.getLogger(__name__)

JSON = "application/json"


class TGCNHandler(BaseHandler):
    """initialize -> preprocess (decode each request) -> inference (one batched forward) -> postprocess."""

    def initialize(self, context: Any) -> None:
        """Build the archive's runtime (eager or ONNX Runtime) from its config.ini and verified files."""
        model_dir = Path(context.system_properties["model_dir"])
        settings = dict((context.model_yaml_config or {}).get("handler") or {})
        for key in ("variant", "num_classes", "checkpoint_sha256"):
            if key not in settings:
                raise RuntimeError(f"model-config.yaml has no handler.{key}; build archives with scripts/archive/build_archives.py")
        if settings.get("intra_op_threads"):
            torch.set_num_threads(int(settings["intra_op_threads"]))
        config = read_config(model_dir / "config.ini")
        num_classes = int(settings["num_classes"])
        weights = model_dir / context.manifest["model"]["serializedFile"]
        self.device = select_device(context.system_properties)
        self.runtime = load_runtime(settings, model_dir, weights, config, num_classes, self.device)
        self.metrics = HandlerMetrics(context.metrics)
        self.glosses = read_glosses(model_dir / "glosses.txt", num_classes)
        self.limits = Limits.from_settings(settings, config.num_samples, num_classes)
        self.framing = load_settings(model_dir / STATS_FILE, settings.get("framing"))
        self.model_name = context.model_name
        self.model_version = str(context.manifest["model"].get("modelVersion", ""))
        self.context = context
        quiet_worker_logs()
        self.initialized = True
        logger.info("loaded %s v%s (%s, %d classes, hidden %d, %d stages) from %s, runtime %s on %s",
                    self.model_name, self.model_version, settings["variant"], num_classes,
                    config.hidden_size, config.num_stages, weights.name, self.runtime.name, self.device)

    @timed_step(PREPROCESS_TIME)
    def preprocess(self, data: list[Any]) -> Batch:
        """Decode every request of the batch (or every instance/sample under a KServe envelope);
        a bad one becomes its own InputError."""
        unwrapped = unwrap(data, lambda idx, row: request_body(row, self.context.get_all_request_header(idx)))
        native = unwrapped.protocol == NATIVE  # envelope instances share one request's headers
        items: list[Decoded | InputError] = []
        for idx, body in enumerate(unwrapped.bodies):
            if isinstance(body, InputError):
                items.append(body)
                continue
            try:
                content_type = body_content_type(self.context.get_all_request_header(idx)) if native else None
                items.append(self.decode(body, content_type))
            except InputError as error:
                items.append(error)
        self.metrics.batch([item.kind if isinstance(item, Decoded) else REJECTED for item in items])
        return Batch(unwrapped.protocol, items)

    def decode(self, body: Any, content_type: str | None) -> Decoded:
        """One request body and its Content-Type -> Decoded, or InputError naming what is wrong."""
        return decode_request(body, self.limits, content_type, self.framing)

    @timed_step(INFERENCE_TIME)
    def inference(self, batch: Batch, *args: Any, **kwargs: Any) -> Batch:
        """Run all windows of the valid requests in one forward pass; average each request's window logits."""
        items = batch.items
        valid = [item for item in items if isinstance(item, Decoded)]
        if not valid:
            return batch
        logits = self.runtime(np.concatenate([item.windows for item in valid]))
        chunks = torch.split(logits, [len(item.windows) for item in valid])
        predictions = iter(Prediction(chunk.mean(dim=0), item.top_k) for chunk, item in zip(chunks, valid))
        return Batch(batch.protocol, [next(predictions) if isinstance(item, Decoded) else item for item in items])

    @timed_step(POSTPROCESS_TIME)
    def postprocess(self, batch: Batch) -> list[Any]:
        """Averaged logits -> top-k answer; an InputError -> its own 4xx status and message.

        Native answers are dicts, which TorchServe sends as JSON; under a KServe envelope the
        answers are wrapped for the envelope by handlers/envelopes.py.
        """
        results: list[Prediction | InputError] = batch.items
        if batch.protocol != NATIVE:
            self.context.set_response_content_type(0, JSON)
            return wrap(batch.protocol, [r if isinstance(r, InputError) else self.top_k(r) for r in results],
                        self.context)
        responses = []
        for idx, result in enumerate(results):
            self.context.set_response_content_type(idx, JSON)
            if isinstance(result, InputError):
                self.context.set_response_status(result.status, str(result), idx=idx)
                body = error_body(result)
            else:
                body = self.top_k(result)
                self.metrics.top1(body["top_k"][0]["probability"])
            responses.append(body)
        rejections = [result for result in results if isinstance(result, InputError)]
        # Every log line costs the worker and the frontend on each batch: only rejections are logged at INFO,
        # one line per batch naming the first (messages are one line of ASCII, client values cut to 40).
        logger.log(logging.INFO if rejections else logging.DEBUG, "batch of %d request(s), %d rejected%s",
                   len(results), len(rejections),
                   f" (first: {rejections[0].status} {str(rejections[0])[:120]})" if rejections else "")
        return responses

    def top_k(self, prediction: Prediction) -> dict[str, Any]:
        """The response for one request: model, version and the k most probable glosses."""
        probabilities = torch.softmax(prediction.logits.double(), dim=-1)
        values, indices = torch.topk(probabilities, prediction.top_k)
        return {"model": self.model_name, "version": self.model_version,
                "top_k": [{"gloss": self.glosses[i], "index": i, "probability": p}
                          for p, i in zip(values.tolist(), indices.tolist())]}
