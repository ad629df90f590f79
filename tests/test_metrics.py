"""Prometheus metrics on the live server's metrics port: TorchServe's and the handler's own."""
from __future__ import annotations

import re
import time

import pytest
import requests

from scripts.torchserve_ctl import TorchServe

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
    deadline = time.monotonic() + 10  # the frontend reads the worker's metric lines asynchronously
    while True:
        after = scrape(server)
        counted = model_sample(after, "TGCNTop1Probability_count", model) - model_sample(before, "TGCNTop1Probability_count", model)
        if counted >= 1 or time.monotonic() > deadline:
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
