"""KServe v1 and v2 (HTTP and open-inference gRPC) instances answer with the native endpoint's probabilities."""
from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests

from handlers.envelopes import protocol_of
from scripts.client import HttpClient, kserve_client
from scripts.client.core import ClientError, Endpoint, load_input
from scripts.serve.torchserve_ctl import Ports, TorchServe
from tests.conftest import CLIP

ENVELOPES = {"kserve": {"service_envelope": "kserve"},
             "kservev2": {"service_envelope": "kservev2", "ts_open_inference_protocol": "true"}}


@pytest.fixture(scope="module")
def kserve(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Endpoint]]:
    """One asl100 instance per envelope, on free ports; stopped by PID at the end."""
    instances = {name: TorchServe(tmp_path_factory.mktemp(name), model_store, ports=Ports.free(), overrides=overrides)
                 for name, overrides in ENVELOPES.items()}
    try:
        for instance in instances.values():
            instance.start(["asl100"], timeout=240)
        yield {name: instance.endpoint() for name, instance in instances.items()}
    finally:
        for instance in instances.values():
            instance.stop()


def assert_same_top_k(answers: list[dict], references: list[dict]) -> None:
    """Same model, version, glosses and classes; probabilities equal up to float32 and batch-composition noise."""
    assert len(answers) == len(references)
    for answer, reference in zip(answers, references):
        assert (answer["model"], answer["version"]) == (reference["model"], reference["version"])
        assert [(e["gloss"], e["index"]) for e in answer["top_k"]] == \
            [(e["gloss"], e["index"]) for e in reference["top_k"]]
        np.testing.assert_allclose([e["probability"] for e in answer["top_k"]],
                                   [e["probability"] for e in reference["top_k"]], rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def samples() -> np.ndarray:
    return np.random.default_rng(5).uniform(-1, 1, (3, 55, 100)).astype(np.float32)


def test_v1_answers_like_native(server: TorchServe, kserve: dict[str, Endpoint], samples: np.ndarray) -> None:
    native = HttpClient(server.endpoint())
    instances = [{**load_input(CLIP), "top_k": 10}, samples[0].tolist(), {"sample": samples[1].tolist(), "top_k": 3}]
    expected = [native.predict("asl100", body if isinstance(body, dict) else {"sample": body}) for body in instances]
    assert_same_top_k(kserve_client.v1_predict(kserve["kserve"], "asl100", instances), expected)
    assert expected[0]["top_k"][0]["gloss"] == "language"


@pytest.mark.parametrize("infer", [kserve_client.v2_infer, kserve_client.v2_infer_grpc], ids=["http", "grpc"])
def test_v2_answers_like_native(server: TorchServe, kserve: dict[str, Endpoint], samples: np.ndarray, infer) -> None:
    native = HttpClient(server.endpoint())
    expected = [native.predict("asl100", {"sample": sample.tolist(), "top_k": 7}) for sample in samples]
    assert_same_top_k(infer(kserve["kservev2"], "asl100", samples, top_k=7), expected)
    single = infer(kserve["kservev2"], "asl100", samples[0])  # a (55, 100) sample is a batch of one, default top-5
    assert [e["index"] for e in single[0]["top_k"]] == [e["index"] for e in expected[0]["top_k"][:5]]


def test_v2_tensor_layout(kserve: dict[str, Endpoint], samples: np.ndarray) -> None:
    endpoint = kserve["kservev2"]
    response = requests.post(f"{endpoint.inference_url}/v2/models/asl100/infer", timeout=60,
                             json=kserve_client.v2_request(samples[:2], top_k=4),
                             headers={"Authorization": f"Bearer {kserve_client.read_token(endpoint.key_file)}"})
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    assert {name: (o["datatype"], o["shape"]) for name, o in outputs.items()} == {
        "glosses": ("BYTES", [8]), "probabilities": ("FP32", [8]), "indices": ("INT64", [8])}


def test_bad_requests_get_400_and_the_instances_keep_serving(kserve: dict[str, Endpoint], samples: np.ndarray) -> None:
    with pytest.raises(ClientError, match="400.*sample must have shape"):
        kserve_client.v1_predict(kserve["kserve"], "asl100", [[1.0, 2.0]])
    with pytest.raises(ClientError, match="400.*top_k must be an integer from 1 to 100"):
        kserve_client.v2_infer(kserve["kservev2"], "asl100", samples, top_k=0)
    with pytest.raises(ClientError, match="must have shape \\[B, 55, 100\\]"):
        kserve_client.v2_infer_grpc(kserve["kservev2"], "asl100", samples[0, 0])
    assert len(kserve_client.v2_infer(kserve["kservev2"], "asl100", samples)) == 3
    assert kserve_client.v1_predict(kserve["kserve"], "asl100", [samples[0].tolist()])[0]["version"] == "1.0"


def test_rows_are_attributed_to_the_envelope_that_made_them() -> None:
    tensor = {"name": "samples", "shape": [1, 55, 100], "datatype": "FP32", "data": []}
    assert [protocol_of(rows) for rows in ([{"body": {}}], [{}], [{"file": b"x"}])] == ["native"] * 3
    assert [protocol_of(rows) for rows in ([{"sample": []}], [[0.0]], None, [{"top_k": 3}])] == ["kserve"] * 4
    assert protocol_of([tensor]) == "kservev2"


def test_concurrent_requests_are_all_answered(kserve: dict[str, Endpoint], samples: np.ndarray) -> None:
    """The stock envelopes answer only a batch's first request, so KServe instances run batch size 1."""
    calls = [lambda: kserve_client.v1_predict(kserve["kserve"], "asl100", [samples[0].tolist()])[0],
             lambda: kserve_client.v2_infer(kserve["kservev2"], "asl100", samples[0])[0],
             lambda: kserve_client.v2_infer_grpc(kserve["kservev2"], "asl100", samples[0])[0]] * 4
    with ThreadPoolExecutor(len(calls)) as pool:
        answers = list(pool.map(lambda call: call(), calls))
    assert len({answer["top_k"][0]["index"] for answer in answers}) == 1
    for endpoint in kserve.values():
        assert [entry["batchSize"] for entry in HttpClient(endpoint).describe("asl100")] == [1]
