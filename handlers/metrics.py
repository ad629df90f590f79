"""The handler's own metrics, emitted through TorchServe's metrics API (`context.metrics`).

TorchServe's frontend publishes them on the metrics port (Prometheus text with
`metrics_mode=prometheus`); configs/metrics.yaml declares each name, type, unit and dimensions.
Each emission is a log line that the worker formats and writes and the frontend parses, about
1 ms per lone request for the six lines of a batch (docs/performance.md), so recording only
queues the value and a daemon thread emits it: no answer waits for its metrics.
"""
from __future__ import annotations

import functools
import logging
import threading
import time
from collections import Counter
from contextlib import contextmanager
from queue import SimpleQueue
from typing import Any, Callable, Iterator, Sequence, TypeVar

from ts.metrics.dimension import Dimension
from ts.metrics.metric_type_enum import MetricTypes

PREPROCESS_TIME = "TGCNPreprocessTime"
INFERENCE_TIME = "TGCNInferenceTime"
POSTPROCESS_TIME = "TGCNPostprocessTime"
BATCH_SIZE = "TGCNBatchSize"
REQUESTS = "TGCNRequests"
TOP1_PROBABILITY = "TGCNTop1Probability"
REJECTED = "rejected"

Step = TypeVar("Step", bound=Callable[..., Any])
logger = logging.getLogger(__name__)


class HandlerMetrics:
    """Step times, batch size, requests per input kind and top-1 probability of one model's worker."""

    def __init__(self, metrics: Any | None) -> None:
        self.metrics = metrics  # None outside a TorchServe worker (in-process use): nothing is recorded
        self.pending: SimpleQueue[Callable[[], None]] = SimpleQueue()
        if metrics is not None:
            threading.Thread(target=self.emit_forever, name="tgcn-metrics", daemon=True).start()

    def emit_forever(self) -> None:
        """The emitting thread: TorchServe's metrics API calls, in the order they were recorded."""
        while True:
            emit = self.pending.get()
            try:
                emit()
            except Exception:  # a metric must never stop the ones after it
                logger.exception("emitting a handler metric failed")

    def record(self, emit: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        """Queue one metrics API call for the emitting thread."""
        self.pending.put(functools.partial(emit, *args, **kwargs))

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Record the wall time of the `with` block in milliseconds under `name`."""
        start = time.perf_counter()
        yield
        if self.metrics is not None:
            self.record(self.metrics.add_time, name, round((time.perf_counter() - start) * 1000, 3), unit="ms",
                        dimensions=[])

    def batch(self, kinds: Sequence[str]) -> None:
        """One batch: its size, and one request counted per input kind (or `rejected`)."""
        if self.metrics is None:
            return
        self.record(self.metrics.add_metric, BATCH_SIZE, len(kinds), "count", dimensions=[],
                    metric_type=MetricTypes.GAUGE)
        for kind, count in sorted(Counter(kinds).items()):
            self.record(self.metrics.add_counter, REQUESTS, count, dimensions=[Dimension("InputKind", kind)])

    def top1(self, probability: float) -> None:
        """The top-1 probability of one answered request (a histogram: how sure the model is)."""
        if self.metrics is not None:
            self.record(self.metrics.add_metric, TOP1_PROBABILITY, probability, "probability", dimensions=[],
                        metric_type=MetricTypes.HISTOGRAM)


def timed_step(name: str) -> Callable[[Step], Step]:
    """Decorate a handler step (preprocess, inference, postprocess) to record its time under `name`
    through the handler's `self.metrics` (a HandlerMetrics)."""
    def decorate(step: Step) -> Step:
        @functools.wraps(step)
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            with self.metrics.timed(name):
                return step(self, *args, **kwargs)
        return run  # type: ignore[return-value]
    return decorate
