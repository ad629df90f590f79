"""Live TorchServe (started by the fixture on free loopback ports): real clip, all variants, batches, auth."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests
import torch

from scripts.serve.torchserve_ctl import TorchServe
from tests import reference
from tests.conftest import CLIP, SHARED


def predict(server: TorchServe, model: str, body, timeout: float = 60) -> requests.Response:
    return requests.post(f"{server.inference_url}/predictions/{model}", json=body,
                         headers=server.headers(), timeout=timeout)


@pytest.mark.parametrize("variant, stages, top1", [("asl100", 20, 0.9993), ("asl300", 20, 0.9945)])
def test_real_clip_matches_independent_computation(server: TorchServe, clip_frames: list[dict],
                                                   variant: str, stages: int, top1: float) -> None:
    response = predict(server, variant, {"openpose_frames": clip_frames, "top_k": 10})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    answer = response.json()
    assert answer["model"] == variant and answer["version"] == "1.0"
    assert answer["top_k"][0]["gloss"] == "language"
    assert answer["top_k"][0]["probability"] == pytest.approx(top1, abs=5e-4)
    expected = reference.probabilities(SHARED / "checkpoints" / variant / "ckpt.pth", CLIP, stages)
    assert [e["index"] for e in answer["top_k"]] == torch.topk(expected, 10).indices.tolist()
    for entry in answer["top_k"]:
        assert entry["probability"] == pytest.approx(float(expected[entry["index"]]), abs=1e-5)


@pytest.mark.parametrize("variant, classes", [("asl1000", 1000), ("asl2000", 2000)])
def test_generated_large_variants_load_and_answer(server: TorchServe, data_tree: Path, clip_frames: list[dict],
                                                  variant: str, classes: int) -> None:
    """asl1000/asl2000 archives built from generated (untrained, shape-correct) checkpoints."""
    response = predict(server, variant, {"openpose_frames": clip_frames, "top_k": classes})
    assert response.status_code == 200, response.text
    probabilities = {e["index"]: e["probability"] for e in response.json()["top_k"]}
    assert len(probabilities) == classes and sum(probabilities.values()) == pytest.approx(1.0, abs=1e-6)
    expected = reference.probabilities(data_tree / "checkpoints" / variant / "ckpt.pth", CLIP, 24)
    served = torch.tensor([probabilities[i] for i in range(classes)], dtype=torch.float64)
    torch.testing.assert_close(served, expected, atol=1e-5, rtol=0)


def test_prepared_sample_and_frame_array(server: TorchServe) -> None:
    sample = np.random.default_rng(2).uniform(-1, 1, (55, 100)).round(4)
    one = predict(server, "asl100", {"sample": sample.tolist(), "top_k": 1})
    four = predict(server, "asl100", {"sample": [sample.tolist()] * 4, "top_k": 1})
    assert one.status_code == four.status_code == 200
    assert one.json()["top_k"][0]["index"] == four.json()["top_k"][0]["index"]
    frames = predict(server, "asl100", {"frames": np.full((30, 55, 2), 100.0).tolist()})
    assert frames.status_code == 200 and len(frames.json()["top_k"]) == 5


def test_bad_request_in_concurrent_batch_gets_4xx_others_200(server: TorchServe, clip_frames: list[dict]) -> None:
    """A second registration of asl100 with a long batch delay makes the requests share one batch."""
    register = requests.post(f"{server.management_url}/models", headers=server.headers("management"), timeout=120,
                             params={"url": "asl100.mar", "model_name": "asl100_batched", "batch_size": 8,
                                     "max_batch_delay": 1500, "initial_workers": 1, "synchronous": "true"})
    assert register.status_code == 200, register.text
    try:
        bodies = [{"openpose_frames": clip_frames}] * 5
        bodies.insert(2, {"openpose_frames": clip_frames, "top_k": 0})
        with ThreadPoolExecutor(len(bodies)) as pool:
            responses = list(pool.map(lambda body: predict(server, "asl100_batched", body), bodies))
        statuses = [r.status_code for r in responses]
        assert statuses == [200, 200, 400, 200, 200, 200]
        assert "top_k must be an integer from 1 to 100" in responses[2].json()["error"]
        assert all(r.json()["top_k"][0]["gloss"] == "language" for i, r in enumerate(responses) if i != 2)
        log = (server.run_dir / "logs" / "model_log.log").read_text()
        batches = [line for line in log.splitlines() if "asl100_batched" in line and "rejected" in line]
        assert any("1 rejected" in line and "batch of 1 " not in line for line in batches), batches
    finally:
        requests.delete(f"{server.management_url}/models/asl100_batched", headers=server.headers("management"),
                        timeout=60)


def test_server_keeps_serving_after_bad_input(server: TorchServe, clip_frames: list[dict]) -> None:
    for body in ("not json", {"frames": [[1]]}, {"sample": "x"}):
        response = requests.post(f"{server.inference_url}/predictions/asl100", headers=server.headers(),
                                 timeout=30, **({"data": body} if isinstance(body, str) else {"json": body}))
        assert response.status_code == 400 and response.json()["error"]
    assert predict(server, "asl100", {"openpose_frames": clip_frames}).json()["top_k"][0]["gloss"] == "language"


def test_token_is_required(server: TorchServe, clip_frames: list[dict]) -> None:
    body = {"openpose_frames": clip_frames}
    assert requests.post(f"{server.inference_url}/predictions/asl100", json=body, timeout=30).status_code in (400, 401)
    wrong = requests.post(f"{server.inference_url}/predictions/asl100", json=body, timeout=30,
                          headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code in (400, 401) and "Token Authorization failed" in wrong.text
    assert (server.key_file.stat().st_mode & 0o777) == 0o600


def test_registering_from_any_url_is_refused(server: TorchServe) -> None:
    for url in ("http://127.0.0.1:9/evil.mar", "file:///tmp/evil.mar"):
        response = requests.post(f"{server.management_url}/models", params={"url": url},
                                 headers=server.headers("management"), timeout=30)
        assert response.status_code == 404 and "does not match any allowed URL" in response.text
