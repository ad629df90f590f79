"""The gateway (scripts/gateway) against a live TorchServe whose keys expire after 6 seconds: forwarding,
the model list, the layout, TorchServe's 4xx passed through, hostile requests, the keys never sent
out, key expiry survived, and TorchServe down (503) and back."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import numpy as np
import psutil
import pytest
import requests

from handlers.mediapipe_map import BODY_SOURCES, mediapipe_to_frames
from scripts.client.core import expiry
from scripts.gateway.cli import DEFAULT_HOST, is_loopback, max_body
from scripts.serve.torchserve_ctl import BASE_CONFIG, TorchServe
from scripts.tools.render_skeleton import EDGES
from tests.landmark_fixtures import holistic_json
from tests.web_support import Gateway, asl100_store, assert_no_secret, gateway, start_torchserve  # noqa: F401

EXPIRY_MIN = "0.1"  # 6 s: the tests outlive several keys


@pytest.fixture(scope="module")
def torchserve(asl100_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TorchServe]:  # noqa: F811
    instance = start_torchserve(asl100_store, tmp_path_factory.mktemp("web_run"), {"token_expiration_min": EXPIRY_MIN})
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def seen_keys(torchserve: TorchServe) -> set[str]:
    """Keys TorchServe issued during the module (tests add the current ones as they go)."""
    return set(torchserve.keys().values())


def call(method: str, url: str, seen: set[str], server: TorchServe, **kwargs) -> requests.Response:
    """One request to the gateway; its answer (body and headers) must hold no key, old or current."""
    response = requests.request(method, url, timeout=60, **kwargs)
    if server.key_file.is_file():
        seen.update(server.keys().values())
    assert_no_secret(response.text + json.dumps(dict(response.headers)), sorted(seen), f"{method} {url}")
    return response


def test_predict_forwards_the_clip(gateway: Gateway, clip_frames: list[dict], seen_keys: set[str]) -> None:
    response = call("POST", f"{gateway.url}/api/predict/asl100", seen_keys, gateway.server,
                    json={"openpose_frames": clip_frames, "top_k": 5})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["model"], answer["version"], answer["top_k"][0]["gloss"]) == ("asl100", "1.0", "language")
    assert "torchserve;dur=" in response.headers["Server-Timing"]
    versioned = call("POST", f"{gateway.url}/api/predict/asl100/1.0", seen_keys, gateway.server,
                     json={"openpose_frames": clip_frames})
    assert versioned.json()["top_k"][0]["gloss"] == "language"


def test_models_lists_names_and_versions(gateway: Gateway, seen_keys: set[str]) -> None:
    response = call("GET", f"{gateway.url}/api/models", seen_keys, gateway.server)
    assert response.json() == {"models": [{"name": "asl100", "default": "1.0", "versions": ["1.0"]}]}


def test_layout_is_the_handlers_table(gateway: Gateway) -> None:
    layout = requests.get(f"{gateway.url}/api/layout", timeout=10).json()
    assert [tuple(s) if isinstance(s, list) else s for s in layout["body_sources"]] == list(BODY_SOURCES)
    assert [tuple(edge) for edge in layout["edges"]] == list(EDGES)
    assert sum(part["count"] for part in layout["parts"]) == layout["num_points"] == 55


def test_replay_points_are_what_the_handler_computes(gateway: Gateway, clip_frames: list[dict]) -> None:
    frames = holistic_json(clip_frames[:10])
    body = {"mediapipe_frames": frames, "image_width": 640, "image_height": 360}
    response = requests.post(f"{gateway.url}/api/points", json=body, timeout=10)
    assert response.status_code == 200, response.text
    expected = mediapipe_to_frames(frames, (640, 360))
    assert np.allclose(np.array(response.json()["frames"]), expected, atol=0.06)


@pytest.mark.parametrize("path, body, status, message", [
    ("/api/predict/asl100", {"bad": 1}, 400, "unknown field(s) 'bad'"),
    ("/api/predict/asl100", {"openpose_frames": []}, 400, "non-empty list"),
    ("/api/predict/nosuch", {"sample": [[0.0] * 100] * 55}, 404, "Model not found: nosuch"),
    ("/api/predict/asl100/9.9", {"sample": [[0.0] * 100] * 55}, 404, "9.9 does not exist"),
    ("/api/points", {"openpose_frames": [{"people": "x"}]}, 400, "'people' list"),
])
def test_torchserve_4xx_pass_through_with_message(gateway: Gateway, seen_keys: set[str], path: str, body: dict,
                                                  status: int, message: str) -> None:
    response = call("POST", f"{gateway.url}{path}", seen_keys, gateway.server, json=body)
    assert response.status_code == status
    assert response.json()["status"] == status and message in response.json()["error"]


@pytest.mark.parametrize("method, path, kwargs, status, message", [
    ("POST", "/api/predict/..%2F..%2Fmodels", {"json": {}}, 400, "is not a model name"),
    ("POST", "/api/predict/asl100/1.0%3Fx=1", {"json": {}}, 400, "is not a model version"),
    ("POST", "/api/predict/" + "a" * 300, {"json": {}}, 400, "is not a model name"),
    ("POST", "/api/predict/asl100", {"data": b"x=1"}, 415, "Content-Type: application/json"),
    ("POST", "/api/predict/asl100", {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
     400, "not valid JSON"),
    ("POST", "/api/predict/asl100", {"data": b"\xff\xfe\x00", "headers": {"Content-Type": "application/json"}},
     400, "UTF-8"),
    ("GET", "/api/predict/asl100", {}, 405, "Method Not Allowed"),
    ("POST", "/api/points", {"data": b"[]", "headers": {"Content-Type": "application/json"}}, 400, "JSON object"),
    ("POST", "/api/points", {"json": {"pose_file": 5}}, 400, "pose_file must be a non-empty base64 string"),
    ("POST", "/api/points", {"json": {"pose_file": "%%%"}}, 400, "pose_file is not valid base64"),
    ("POST", "/api/points", {"json": {"frames": "x"}}, 400, "frames must contain only numbers"),
    ("POST", "/api/points", {"json": {"frames": [[[1, 2]]]}}, 400, "frames must have shape (T, 55, 2)"),
    ("POST", "/api/points", {"data": b'{"frames": [[[1e400, 2]]]}', "headers": {"Content-Type": "application/json"}},
     400, "frames"),
    ("POST", "/api/points", {"json": {"sample": [[0]]}}, 400, "expected OpenPose frames"),
])
def test_hostile_requests_get_a_clear_4xx(gateway: Gateway, seen_keys: set[str], method: str, path: str,
                                          kwargs: dict, status: int, message: str) -> None:
    response = call(method, f"{gateway.url}{path}", seen_keys, gateway.server, **kwargs)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_static_files_stay_inside_web(gateway: Gateway) -> None:
    for path in ("/api/../config.properties", "/js/../../config.properties", "/js/%2e%2e/%2e%2e/config.properties", "/vendor/holistic/../../../Makefile",
                 "/css/..%2f..%2fMakefile"):
        response = requests.get(f"{gateway.url}{path}", timeout=10)
        assert response.status_code in (403, 404), path
        assert "inference_address" not in response.text and ".PHONY" not in response.text


def test_request_size_limit_is_torchservers(gateway: Gateway, seen_keys: set[str]) -> None:
    limit = max_body(BASE_CONFIG)
    assert limit == int(gateway.server.properties["max_request_size"])
    response = call("POST", f"{gateway.url}/api/predict/asl100", seen_keys, gateway.server,
                    data=b" " * (limit + 1), headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "Maximum request body size" in response.json()["error"]


def test_binds_loopback_by_default(gateway: Gateway) -> None:
    assert is_loopback(DEFAULT_HOST)
    listening = [c.laddr for c in psutil.Process(gateway.pid).net_connections("inet") if c.status == "LISTEN"]
    assert listening and all(address.ip == "127.0.0.1" for address in listening)


def test_page_and_assets_come_from_this_origin(gateway: Gateway) -> None:
    page = requests.get(f"{gateway.url}/", timeout=10)
    assert page.status_code == 200 and "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "http://" not in page.text and "https://" not in page.text
    wasm = requests.get(f"{gateway.url}/vendor/holistic/holistic_solution_simd_wasm_bin.wasm", timeout=30)
    assert wasm.status_code == 200 and wasm.headers["Content-Type"] == "application/wasm"


def test_survives_key_expiry(gateway: Gateway, clip_frames: list[dict], seen_keys: set[str]) -> None:
    before = gateway.server.keys()
    expires = expiry(json.loads(gateway.server.key_file.read_text())["inference"]["expiration time"])
    time.sleep(max(0.0, (expires - datetime.now(timezone.utc)).total_seconds()) + 1.0)
    # TorchServe itself now refuses the old key ...
    stale = requests.post(f"{gateway.server.inference_url}/predictions/asl100", json={"openpose_frames": clip_frames},
                          headers={"Authorization": f"Bearer {before['inference']}"}, timeout=30)
    assert stale.status_code == 400 and "Token Authorization failed" in stale.text
    # ... and the gateway renews it and answers.
    response = call("POST", f"{gateway.url}/api/predict/asl100", seen_keys, gateway.server,
                    json={"openpose_frames": clip_frames})
    assert response.status_code == 200, response.text
    assert call("GET", f"{gateway.url}/api/models", seen_keys, gateway.server).status_code == 200
    after = gateway.server.keys()
    assert after["inference"] != before["inference"] and after["management"] != before["management"]
    assert_no_secret(gateway.log.read_text(), sorted(seen_keys), "the gateway's log")


def test_torchserve_down_is_503_and_recovers(gateway: Gateway, clip_frames: list[dict], seen_keys: set[str]) -> None:
    """Last in this module: it stops TorchServe (a crash keeps the key file; a stop removes it) and restarts it."""
    server = gateway.server
    body = {"openpose_frames": clip_frames}
    keys = server.key_file.read_text()
    server.stop()
    server.key_file.write_text(keys)  # as after a crash: keys on disk, nobody listening
    crashed = call("POST", f"{gateway.url}/api/predict/asl100", seen_keys, server, json=body)
    assert crashed.status_code == 503 and "TorchServe is not reachable" in crashed.json()["error"]
    server.key_file.unlink()
    stopped = call("POST", f"{gateway.url}/api/predict/asl100", seen_keys, server, json=body)
    assert stopped.status_code == 503 and "TorchServe is not running" in stopped.json()["error"]
    assert call("GET", f"{gateway.url}/api/models", seen_keys, server).status_code == 503
    server.start(["asl100"], timeout=240)
    back = call("POST", f"{gateway.url}/api/predict/asl100", seen_keys, server, json=body)
    assert back.status_code == 200 and back.json()["top_k"][0]["gloss"] == "language"


def test_start_outlives_keys_shorter_than_the_start(asl100_store: Path, tmp_path: Path) -> None:  # noqa: F811
    """torchserve_ctl waits for READY with the management key; with keys that expire before the workers
    are up (here 1.2 s) it renews the key instead of polling with a dead one until its timeout."""
    instance = start_torchserve(asl100_store, tmp_path / "run", {"token_expiration_min": "0.02"})  # READY or raises
    assert instance.stop()
