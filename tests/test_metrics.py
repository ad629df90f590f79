"""Prometheus metrics on the live server's metrics port: TorchServe's and the handler's own."""
from __future__ import annotations

import re
import threading
import time

import pytest
import requests

from handlers.metrics import BATCH_SIZE, REQUESTS, TOP1_PROBABILITY, HandlerMetrics
from scripts.serve.torchserve_ctl import TorchServe

SAMPLE = re.compile(r'^(?P<name>[A-Za-z_:][\w:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)$')


def scrape(server: TorchServe) -> dict[tuple[str, frozenset], float]:
    """GET /metrics (no token) -> {(metric name, labels without Hostname): value}."""
    response = requests.get(f"{server.metrics_url}/metrics", timeout=10)
    assert response.status_code == 200
    samples = {}
    for line in response.text.splitlines():
        match = SAMPLE.match(line)
        if match and not line.startswith("#"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"] or ""))
            labels.pop("Hostname", None)
            samples[(match["name"], frozenset(labels.items()))] = float(match["value"])
    return samples


def model_sample(samples: dict, name: str, model: str, **labels: str) -> float:
    key = (name, frozenset({"ModelName": model, "Level": "Model", **labels}.items()))
    return samples.get(key, 0.0)


def test_handler_metrics_appear_after_requests(server: TorchServe, clip_frames: list[dict]) -> None:
    model = "asl300"
    before = scrape(server)
    good = requests.post(f"{server.inference_url}/predictions/{model}", json={"openpose_frames": clip_frames},
                         headers=server.headers(), timeout=60)
    bad = requests.post(f"{server.inference_url}/predictions/{model}", json={"frames": [[1]]},
                        headers=server.headers(), timeout=60)
    assert good.status_code == 200 and bad.status_code == 400
    top1 = good.json()["top_k"][0]["probability"]
    deadline = time.monotonic() + 10  # the worker emits its metric lines, and the frontend reads them, asynchronously
    while True:
        after = scrape(server)
        counted = model_sample(after, "TGCNTop1Probability_count", model) - model_sample(before, "TGCNTop1Probability_count", model)
        rejected = (model_sample(after, "TGCNRequests", model, InputKind="rejected")
                    - model_sample(before, "TGCNRequests", model, InputKind="rejected"))
        if (counted >= 1 and rejected >= 1) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert counted == 1
    assert (model_sample(after, "TGCNTop1Probability_sum", model)
            - model_sample(before, "TGCNTop1Probability_sum", model)) == pytest.approx(top1, abs=1e-9)
    for kind in ("openpose_frames", "rejected"):
        delta = (model_sample(after, "TGCNRequests", model, InputKind=kind)
                 - model_sample(before, "TGCNRequests", model, InputKind=kind))
        assert delta == 1, kind
    for name in ("TGCNPreprocessTime", "TGCNInferenceTime", "TGCNPostprocessTime", "HandlerTime"):
        assert (name, frozenset({"ModelName": model, "Level": "Model"}.items())) in after, name
    assert 1 <= model_sample(after, "TGCNBatchSize", model) <= 8
    served = {labels: value for (name, labels), value in after.items() if name == "ts_inference_requests_total"}
    assert any(("model_name", model) in labels and value >= 2 for labels, value in served.items())



class FakeMetrics:
    """TorchServe's metrics API as the handler calls it, noting the emitting thread; the first add_time fails."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.threads: set[int] = set()
        self.failed = False
        self.emitted = threading.Event()

    def note(self, name: str, value: object) -> None:
        self.calls.append((name, value))
        self.threads.add(threading.get_ident())

    def add_time(self, name: str, value: float, **kwargs: object) -> None:
        if not self.failed:
            self.failed = True
            raise ValueError("metric cache full")
        self.note(name, value)

    def add_metric(self, name: str, value: float, unit: str, **kwargs: object) -> None:
        self.note(name, value)
        if name == TOP1_PROBABILITY:
            self.emitted.set()

    def add_counter(self, name: str, value: int, dimensions: list) -> None:
        self.note(name, (dimensions[0].value, value))


def test_metrics_are_emitted_off_the_request_thread_in_order() -> None:
    fake = FakeMetrics()
    metrics = HandlerMetrics(fake)
    with metrics.timed("Lost"):  # its emission fails: the ones after it still arrive
        pass
    with metrics.timed("Kept"):
        pass
    metrics.batch(["frames", "rejected", "frames"])
    metrics.top1(0.75)
    assert fake.emitted.wait(5)
    assert [name for name, _ in fake.calls] == ["Kept", BATCH_SIZE, REQUESTS, REQUESTS, TOP1_PROBABILITY]
    assert fake.calls[1:] == [(BATCH_SIZE, 3), (REQUESTS, ("frames", 2)), (REQUESTS, ("rejected", 1)),
                              (TOP1_PROBABILITY, 0.75)]
    assert threading.get_ident() not in fake.threads
