"""Faults under load on the live TorchServe: a worker SIGKILLed (twice), the default version switched,
an archive with tampered weights registered at runtime. Copies of asl100 are registered under other
names so the session server's own models are never disturbed."""
from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from scripts.archive import build_archives
from scripts.bench.loadgen import run_load, worker_pids
from scripts.serve.torchserve_ctl import TorchServe
from tests.test_serve_ctl import tampered_copy

KILLS = 2


def register(server: TorchServe, archive: str, name: str, **params: object) -> requests.Response:
    return requests.post(f"{server.management_url}/models", headers=server.headers("management"), timeout=180,
                         params={"url": archive, "model_name": name, "initial_workers": 1, "synchronous": "true",
                                 **params})


def unregister(server: TorchServe, name: str, version: str | None = None) -> None:
    requests.delete(f"{server.management_url}/models/{name}" + (f"/{version}" if version else ""),
                    headers=server.headers("management"), timeout=60)


def is_language(response: requests.Response) -> bool:
    return response.json()["top_k"][0]["gloss"] == "language"


@pytest.fixture()
def copy_of(server: TorchServe):
    """Register asl100.mar under other names for one test; unregister them afterwards."""
    names: list[str] = []

    def make(name: str, **params: object) -> str:
        response = register(server, "asl100.mar", name, **params)
        assert response.status_code == 200, response.text
        names.append(name)
        return name

    yield make
    for name in names:
        unregister(server, name)


def wait_for_new_worker(server: TorchServe, model: str, old: list[int], timeout: float = 90) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = worker_pids(server.management_url, server.headers("management"), model)
        if pids and pids != old:
            return pids
        time.sleep(0.2)
    raise AssertionError(f"{model}: no new READY worker {timeout} s after SIGKILL of {old}")


def test_worker_sigkill_under_load_recovers_and_loses_nothing(server: TorchServe, clip_frames: list[dict],
                                                             copy_of) -> None:
    model = copy_of("asl100_sigkill")
    restarts: list[list[int]] = []

    def kill_workers() -> None:
        for _ in range(KILLS):
            time.sleep(1.0)
            pids = worker_pids(server.management_url, server.headers("management"), model)
            os.kill(pids[0], signal.SIGKILL)
            restarts.append(wait_for_new_worker(server, model, pids))

    body = json.dumps({"openpose_frames": clip_frames}).encode()
    report = run_load(f"{server.inference_url}/predictions/{model}", body, server.headers(), is_language,
                      clients=8, seconds=2, timeout=60, retries=6, during=kill_workers)
    print(f"SIGKILL x{KILLS} under load: {report.summary()}")
    assert len(restarts) == KILLS and len({pid for pids in restarts for pid in pids}) == KILLS
    assert report.lost == 0 and report.correct == report.requests > 0, report.summary()
    assert report.retried > 0, "no request was in flight when the worker died"  # the fault really hit traffic
    after = run_load(f"{server.inference_url}/predictions/{model}", body, server.headers(), is_language,
                     clients=4, seconds=30, max_requests=20, retries=0)
    assert after.correct == 20, after.summary()


@pytest.fixture()
def version_2(server: TorchServe, data_tree: Path, tmp_path: Path):
    """asl100 built again as version 2.0, put into the live server's model store as asl100_v2.mar."""
    code = build_archives.main(["--variants", "asl100", "--version", "2.0", "--data", str(data_tree),
                                "--export-path", str(tmp_path / "v2"), "--build-dir", str(tmp_path / "build")])
    assert code == 0
    target = server.model_store / "asl100_v2.mar"
    shutil.copy(tmp_path / "v2" / "asl100.mar", target)
    yield target.name
    target.unlink()


def test_set_default_under_load_loses_nothing(server: TorchServe, clip_frames: list[dict], copy_of,
                                              version_2: str) -> None:
    model = copy_of("asl100_versions")
    response = register(server, version_2, model)
    assert response.status_code == 200, response.text
    versions: list[str] = []

    def answer(response: requests.Response) -> bool:
        versions.append(response.json()["version"])
        return is_language(response)

    def switch_defaults() -> None:
        for version in ("2.0", "1.0", "2.0"):
            time.sleep(0.7)
            switched = requests.put(f"{server.management_url}/models/{model}/{version}/set-default",
                                    headers=server.headers("management"), timeout=30)
            assert switched.status_code == 200, switched.text
        time.sleep(0.7)

    body = json.dumps({"openpose_frames": clip_frames}).encode()
    try:
        report = run_load(f"{server.inference_url}/predictions/{model}", body, server.headers(), answer,
                          clients=8, seconds=1, timeout=60, retries=0, during=switch_defaults)
        print(f"set-default x3 under load: {report.summary()}, answers by version {Counter(versions)}")
        assert report.lost == 0 and report.correct == report.requests > 0, report.summary()
        assert {"1.0", "2.0"} <= set(versions)
        assert versions[-1] == "2.0"
    finally:
        unregister(server, model, "1.0")


def test_tampered_archive_registered_at_runtime_never_serves(server: TorchServe, model_store: Path,
                                                             clip_frames: list[dict], tmp_path: Path) -> None:
    """The start-up case is tests/test_serve_ctl.py; here the live server is asked to add one."""
    archive = server.model_store / "asl100_tampered.mar"
    shutil.copy(tampered_copy(model_store / "asl100.mar", tmp_path / "store"), archive)
    log_start = server.model_log.stat().st_size
    try:
        response = register(server, archive.name, "asl100_tampered")
        assert response.status_code == 500 and "Failed to start workers" in response.text
        listed = requests.get(f"{server.management_url}/models/asl100_tampered", headers=server.headers("management"),
                              timeout=30)
        assert listed.status_code == 404
        predict = requests.post(f"{server.inference_url}/predictions/asl100_tampered", headers=server.headers(),
                                json={"openpose_frames": clip_frames}, timeout=30)
        assert predict.status_code == 404
    finally:
        archive.unlink()
        unregister(server, "asl100_tampered")
    with open(server.model_log, "rb") as log:
        log.seek(log_start)
        assert b"refusing to serve these weights" in log.read()
    good = requests.post(f"{server.inference_url}/predictions/asl100", headers=server.headers(),
                         json={"openpose_frames": clip_frames}, timeout=60)
    assert is_language(good)
