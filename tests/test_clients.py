"""The client library and CLI against the live session TorchServe: HTTP vs gRPC, management, tokens."""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import grpc
import pytest

from scripts.client import HttpClient, cli, connect, grpc_stubs
from scripts.client.core import ClientError, Endpoint, load_input, read_token
from scripts.client.grpc_client import GrpcClient
from scripts.serve.torchserve_ctl import TorchServe
from tests.conftest import CLIP


@pytest.fixture(scope="module")
def endpoint(server: TorchServe) -> Endpoint:
    return server.endpoint()


@pytest.mark.parametrize("model", ["asl100", "asl300"])
def test_http_and_grpc_give_identical_top_k(endpoint: Endpoint, model: str) -> None:
    body = {**load_input(CLIP), "top_k": 10}
    over_http = HttpClient(endpoint).predict(model, body)
    over_grpc = GrpcClient(endpoint).predict(model, body)
    assert over_http == over_grpc
    assert over_grpc["top_k"][0]["gloss"] == "language" and len(over_grpc["top_k"]) == 10


def test_cli_predicts_over_grpc_and_http(server: TorchServe, capsys: pytest.CaptureFixture[str]) -> None:
    config = server.run_dir / "config.properties"
    for transport in ("grpc", "http"):
        code = cli.main(["predict", str(CLIP), "--transport", transport, "--top-k", "3", "--config", str(config),
                         "--key-file", str(server.key_file)])
        out = capsys.readouterr().out
        assert code == 0 and out.splitlines()[0].startswith("asl100 v1.0:")
        assert out.splitlines()[1].split()[:2] == ["1.", "language"]


def test_version_is_addressable_over_both_transports(endpoint: Endpoint) -> None:
    body = {"sample": [[0.1] * 100] * 55, "top_k": 2}
    for transport in ("http", "grpc"):
        client = connect(endpoint, transport)
        assert client.predict("asl300", body, "1.0")["version"] == "1.0"
        with pytest.raises(ClientError, match="9.9"):
            client.predict("asl300", body, "9.9")


def test_bad_input_is_a_clear_error_on_both_transports(endpoint: Endpoint) -> None:
    for transport in ("http", "grpc"):
        with pytest.raises(ClientError, match="top_k must be an integer from 1 to 100") as caught:
            connect(endpoint, transport).predict("asl100", {"sample": [[0.0] * 100] * 55, "top_k": 0})
        assert caught.value.status == 400


def test_grpc_management_lists_describes_and_scales(endpoint: Endpoint) -> None:
    client = GrpcClient(endpoint)
    assert {"asl100", "asl300", "asl1000", "asl2000"} <= set(client.list_models())
    assert set(client.list_models()) == set(HttpClient(endpoint).list_models())
    assert [entry["modelVersion"] for entry in client.describe("asl300")] == ["1.0"]
    try:
        client.scale("asl300", 2)
        workers = client.describe("asl300", "1.0")[0]["workers"]
        assert len(workers) == 2
    finally:
        client.scale("asl300", 1)
    assert len(HttpClient(endpoint).describe("asl300", None)[0]["workers"]) == 1
    with pytest.raises(ClientError, match="NOT_FOUND"):
        client.set_default("asl300", "9.9")


def test_requests_without_or_with_a_wrong_token_are_rejected(endpoint: Endpoint, tmp_path: Path) -> None:
    wrong = tmp_path / "key_file.json"
    keys = json.loads(endpoint.key_file.read_text())
    keys["inference"]["key"] = keys["management"]["key"] = "wrong"
    wrong.write_text(json.dumps(keys))
    body = {"sample": [[0.0] * 100] * 55}
    for transport in ("http", "grpc"):
        client = connect(dataclasses.replace(endpoint, key_file=wrong), transport)
        with pytest.raises(ClientError, match="token from .* was rejected"):
            client.predict("asl100", body)
        with pytest.raises(ClientError, match="management token from .* was rejected"):
            client.list_models()
    stubs = grpc_stubs.load()
    stub = stubs["inference_pb2_grpc"].InferenceAPIsServiceStub(grpc.insecure_channel(endpoint.grpc_inference))
    with pytest.raises(grpc.RpcError) as caught:  # no metadata at all
        stub.Predictions(stubs["inference_pb2"].PredictionsRequest(model_name="asl100", input={"data": b"{}"}),
                         timeout=30)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_missing_and_expired_tokens_fail_before_calling(tmp_path: Path) -> None:
    with pytest.raises(ClientError, match="not found: is TorchServe running"):
        read_token(tmp_path / "absent.json")
    expired = tmp_path / "key_file.json"
    past = (datetime.now(timezone.utc) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.123456789Z")
    expired.write_text(json.dumps({"inference": {"key": "k", "expiration time": past}}))
    with pytest.raises(ClientError, match="inference token in .* expired at"):
        read_token(expired)
    with pytest.raises(ClientError, match="has no management key"):
        read_token(expired, "management")
    future = (datetime.now(timezone.utc) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.123456789Z")
    expired.write_text(json.dumps({"inference": {"key": "k", "expiration time": future}}))
    assert read_token(expired) == "k"
