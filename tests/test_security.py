"""Safe defaults of the live TorchServe (docs/security.md): loopback only, tokens required and never
logged, registrations only from the local model store, logs written once."""
from __future__ import annotations

import ipaddress
import os
import re

import psutil
import pytest
import requests

from scripts.serve.torchserve_ctl import TorchServe
from scripts.client.core import BASE_CONFIG, read_properties


def group_processes(server: TorchServe) -> list[psutil.Process]:
    group = server.pid()
    return [p for p in psutil.process_iter() if _pgid(p.pid) == group]


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def test_shipped_config_binds_loopback_and_keeps_tokens_on() -> None:
    properties = read_properties(BASE_CONFIG)
    for key in ("inference_address", "management_address", "metrics_address"):
        assert re.fullmatch(r"https?://127\.0\.0\.1:\d+", properties[key]), key
    assert properties["grpc_inference_address"] == properties["grpc_management_address"] == "127.0.0.1"
    assert properties["disable_token_authorization"] == "false"
    assert properties["allowed_urls"] == "(?!)" and properties["install_py_dep_per_model"] == "false"
    assert int(properties["max_request_size"]) <= 6553500


def test_every_listening_socket_is_on_loopback(server: TorchServe) -> None:
    processes = group_processes(server)
    assert len(processes) >= 2  # java and at least one worker
    listening = [c for p in processes for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    ports = {c.laddr.port for c in listening}
    assert {int(server.inference_url.rsplit(":", 1)[1]), int(server.management_url.rsplit(":", 1)[1])} <= ports
    addresses = [ipaddress.ip_address(c.laddr.ip) for c in listening]
    assert all((getattr(a, "ipv4_mapped", None) or a).is_loopback for a in addresses), listening


@pytest.mark.parametrize("port, path", [("inference", "/predictions/asl100"), ("management", "/models")])
def test_apis_refuse_missing_and_wrong_tokens(server: TorchServe, port: str, path: str) -> None:
    base = server.inference_url if port == "inference" else server.management_url
    method = requests.post if port == "inference" else requests.get
    for headers in ({}, {"Authorization": "Bearer not-the-key"}, server.headers("inference" if port == "management"
                                                                                  else "management")):
        assert method(f"{base}{path}", headers=headers, timeout=30).status_code in (400, 401), headers


@pytest.mark.parametrize("url", ["https://127.0.0.1:9/x.mar", "s3://bucket/x.mar", "ftp://127.0.0.1/x.mar",
                                 "../asl100.mar", "/etc/passwd", "file:///etc/passwd", "..%2Fasl100.mar"])
def test_no_registration_outside_the_model_store(server: TorchServe, url: str) -> None:
    response = requests.post(f"{server.management_url}/models", params={"url": url, "model_name": "intruder"},
                             headers=server.headers("management"), timeout=60)
    assert 400 <= response.status_code < 600 and response.status_code != 200
    assert requests.get(f"{server.management_url}/models/intruder", headers=server.headers("management"),
                        timeout=30).status_code == 404


def test_tokens_never_reach_the_logs(server: TorchServe, clip_frames: list[dict]) -> None:
    marker = "secret-marker-9f3b2c"
    requests.post(f"{server.inference_url}/predictions/asl100", json={"openpose_frames": clip_frames},
                  headers={"Authorization": f"Bearer {marker}"}, timeout=30)
    requests.post(f"{server.inference_url}/predictions/asl100", json={"openpose_frames": clip_frames},
                  headers=server.headers(), timeout=60)
    secrets = [marker, *server.keys().values()]
    logs = [*(server.run_dir / "logs").glob("*.log"), server.log_file]
    leaked = [(path.name, secret[:6]) for path in logs for secret in secrets
              if secret in path.read_text(errors="replace")]
    assert not leaked


def test_each_log_line_is_written_once(server: TorchServe) -> None:
    """TorchServe's default config writes every ts_log line twice and copies worker lines into ts_log."""
    ts_log = (server.run_dir / "logs" / "ts_log.log").read_text(errors="replace")
    assert ts_log.count("Torchserve version: 0.12.0") == 1, ts_log[:3000]
    # Lines as the layout writes them: "<time> [LEVEL] <thread> <logger> - <message>".
    copied = re.findall(r"^\S+ \[[A-Z ]+\] \S+ (?:MODEL_LOG - .*|\S+\.WorkerThread - Backend response time.*)$",
                        ts_log, flags=re.M)
    assert not copied, copied[:5]
    out = server.log_file.read_text(errors="replace")
    chatty = re.findall(r"^\S+ \[(?:INFO |DEBUG|TRACE)\] .*$", out, flags=re.M)
    assert not chatty, chatty[:5]
