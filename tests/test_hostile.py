"""The hostile-input catalogue against the live TorchServe: every case a 4xx naming the problem, the
worker never restarts, and a valid request right after each (or in the same batch) is still right."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from scripts.bench.loadgen import worker_pids
from scripts.serve.torchserve_ctl import TorchServe
from tests.hostile_cases import CASES, Hostile

BATCHED = "asl100_hostile"


def send(server: TorchServe, model: str, case: Hostile) -> requests.Response:
    headers = server.headers()
    if case.content_type is not None:
        headers["Content-Type"] = case.content_type
    return requests.post(f"{server.inference_url}/predictions/{model}", data=case.body, headers=headers, timeout=60)


def send_valid(server: TorchServe, model: str, clip_frames: list[dict]) -> requests.Response:
    return requests.post(f"{server.inference_url}/predictions/{model}", json={"openpose_frames": clip_frames},
                         headers=server.headers(), timeout=60)


def problems(case: Hostile, response: requests.Response) -> str | None:
    """Why `response` is not the answer `case` must get, or None."""
    message = response.json().get("error", "") if response.content else response.reason
    if response.status_code != case.status or case.needle not in message:
        return f"{case.name}: expected {case.status} with {case.needle!r}, got {response.status_code} {message[:200]!r}"
    if response.status_code != 413 and not response.headers.get("Content-Type", "").startswith("application/json"):
        return f"{case.name}: answer is not JSON ({response.headers.get('Content-Type')})"
    if "X-Injected" in response.headers:
        return f"{case.name}: a header was injected"
    return None


def is_correct(response: requests.Response) -> bool:
    return response.status_code == 200 and response.json()["top_k"][0]["gloss"] == "language"


def test_catalogue_covers_at_least_40_distinct_cases() -> None:
    assert len(CASES) >= 40 and len({case.name for case in CASES}) == len(CASES)
    assert all(400 <= case.status < 500 for case in CASES)


def test_every_hostile_request_gets_its_4xx_and_the_worker_lives(server: TorchServe, clip_frames: list[dict]) -> None:
    management = server.headers("management")
    pids = worker_pids(server.management_url, management, "asl100")
    failures = []
    for case in CASES:
        failure = problems(case, send(server, "asl100", case))
        if failure:
            failures.append(failure)
        if not is_correct(send_valid(server, "asl100", clip_frames)):
            failures.append(f"{case.name}: the valid request after it was not answered correctly")
        if worker_pids(server.management_url, management, "asl100") != pids:
            failures.append(f"{case.name}: the worker changed ({pids} -> {worker_pids(server.management_url, management, 'asl100')})")
            pids = worker_pids(server.management_url, management, "asl100")
    assert not failures, "\n".join(failures)


@pytest.fixture()
def batched_model(server: TorchServe):
    """A second registration of asl100 whose long batch delay makes concurrent requests share a batch."""
    register = requests.post(f"{server.management_url}/models", headers=server.headers("management"), timeout=120,
                             params={"url": "asl100.mar", "model_name": BATCHED, "batch_size": 8,
                                     "max_batch_delay": 1000, "initial_workers": 1, "synchronous": "true"})
    assert register.status_code == 200, register.text
    yield BATCHED
    requests.delete(f"{server.management_url}/models/{BATCHED}", headers=server.headers("management"), timeout=60)


def test_hostile_requests_inside_mixed_batches(server: TorchServe, clip_frames: list[dict], batched_model: str) -> None:
    management = server.headers("management")
    pids = worker_pids(server.management_url, management, batched_model)
    failures = []
    for start in range(0, len(CASES), 6):
        group = CASES[start:start + 6]
        with ThreadPoolExecutor(len(group) + 2) as pool:
            valid = [pool.submit(send_valid, server, batched_model, clip_frames) for _ in range(2)]
            hostile = [pool.submit(send, server, batched_model, case) for case in group]
            failures += [problem for case, future in zip(group, hostile) if (problem := problems(case, future.result()))]
            failures += [f"valid request next to {[c.name for c in group]} failed" for f in valid
                         if not is_correct(f.result())]
    assert not failures, "\n".join(failures)
    assert worker_pids(server.management_url, management, batched_model) == pids
    log = (server.run_dir / "logs" / "model_log.log").read_text(errors="replace")
    mixed = [line for line in log.splitlines() if f"-{batched_model}_" in line and "rejected" in line
             and " 0 rejected" not in line and "batch of 1 " not in line]
    assert len(mixed) >= 3, "hostile and valid requests never shared a batch"
