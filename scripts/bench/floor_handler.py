"""A TorchServe handler that does no work: it answers every request of a batch with a fixed top-1,
without decoding the body. `make bench` serves it with asl100's batching settings, so that its
latency is TorchServe's own floor on the machine (HTTP or gRPC in, worker round trip, answer out)."""
from __future__ import annotations

from typing import Any

from ts.torch_handler.base_handler import BaseHandler

ANSWER = {"model": "floor", "version": "1.0", "top_k": [{"gloss": "language", "index": 54, "probability": 1.0}]}


class FloorHandler(BaseHandler):
    """initialize: nothing to load; preprocess/inference pass the batch through; postprocess answers."""

    def initialize(self, context: Any) -> None:
        self.context = context
        self.initialized = True

    def preprocess(self, data: list[Any]) -> list[Any]:
        return data

    def inference(self, data: list[Any], *args: Any, **kwargs: Any) -> list[Any]:
        return data

    def postprocess(self, data: list[Any]) -> list[Any]:
        for idx in range(len(data)):
            self.context.set_response_content_type(idx, "application/json")
        return [ANSWER] * len(data)
