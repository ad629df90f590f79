"""The hostile catalogue over gRPC: Predictions on the native instance and KServe v2 ModelInfer on a
kservev2 instance. Each case gets its status and message, the workers keep their PIDs, and a valid
call right after each case is answered correctly."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from scripts.bench.loadgen import worker_pids
from scripts.client import grpc_stubs
from scripts.serve.torchserve_ctl import Ports, TorchServe
from tests.grpc_cases import GRPC_OK, MODEL_INFER, PREDICTIONS, SAMPLES, GrpcCase

OPTIONS = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]


def metadata(server: TorchServe, token: str) -> tuple[tuple[str, str], ...]:
    bearer = server.headers("management" if token == "management" else "inference")["Authorization"]
    return {"none": (), "wrong": (("authorization", "Bearer not-a-key"),),
            "bare": (("authorization", bearer.split()[-1]),)}.get(token, (("authorization", bearer),))


def outcome(call: Any, request: Any, server: TorchServe, case: GrpcCase) -> tuple[str, str, Any]:
    """(gRPC status name, details, reply) of one call."""
    try:
        return GRPC_OK, "", call(request, metadata=metadata(server, case.token), timeout=60)
    except grpc.RpcError as error:
        return error.code().name, error.details() or "", None


class Transport:
    """Builds and judges the calls of one RPC (Predictions or ModelInfer) against one instance."""

    def __init__(self, server: TorchServe, rpc: str) -> None:
        stubs = grpc_stubs.load()
        channel = grpc.insecure_channel(server.endpoint().grpc_inference, options=OPTIONS)
        self.server, self.rpc = server, rpc
        if rpc == "Predictions":
            self.pb2, self.call = stubs["inference_pb2"], stubs["inference_pb2_grpc"].InferenceAPIsServiceStub(channel).Predictions
        else:
            self.pb2 = stubs["open_inference_grpc_pb2"]
            self.call = stubs["open_inference_grpc_pb2_grpc"].GRPCInferenceServiceStub(channel).ModelInfer

    def request(self, case: GrpcCase) -> Any:
        names = {"model_name": "asl100", "model_version": "", **case.fields}
        if self.rpc == "Predictions":
            return self.pb2.PredictionsRequest(**names, input=case.inputs)
        request = self.pb2.ModelInferRequest(**names)
        for name, datatype, shape, contents, values in case.inputs:
            tensor = request.inputs.add(name=name, datatype=datatype, shape=shape)
            if contents:
                getattr(tensor.contents, contents).extend(values)
        request.raw_input_contents.extend(case.raw or [])
        return request

    def error_of(self, reply: Any) -> tuple[int | None, str]:
        """The handler's (status, message) in an OK reply; (None, '') for an answer."""
        if self.rpc == "Predictions":
            answer = json.loads(reply.prediction)
            return answer.get("status"), answer.get("error", "")
        errors = [out for out in reply.outputs if out.name == "error"]
        return (400, json.loads(errors[0].contents.bytes_contents[0])) if errors else (None, "")

    def problem(self, case: GrpcCase) -> str | None:
        code, details, reply = outcome(self.call, self.request(case), self.server, case)
        if code != case.code:
            return f"{case.name}: expected {case.code}, got {code} {details[:160]!r}"
        if code != GRPC_OK:
            return None if case.needle in details else f"{case.name}: {details[:160]!r} lacks {case.needle!r}"
        status, message = self.error_of(reply)
        if status != case.status or case.needle not in message:
            return f"{case.name}: expected {case.status} {case.needle!r}, got {status} {message[:160]!r}"
        return None

    def valid_is_answered(self, clip_frames: list[dict]) -> bool:
        if self.rpc == "Predictions":
            case = GrpcCase("valid", GRPC_OK, "", inputs={"data": json.dumps({"openpose_frames": clip_frames}).encode()})
            code, _, reply = outcome(self.call, self.request(case), self.server, case)
            return code == GRPC_OK and json.loads(reply.prediction)["top_k"][0]["gloss"] == "language"
        case = GrpcCase("valid", GRPC_OK, "", inputs=[SAMPLES])
        code, _, reply = outcome(self.call, self.request(case), self.server, case)
        return code == GRPC_OK and [out.name for out in reply.outputs] == ["glosses", "probabilities", "indices"]


def run_catalogue(transport: Transport, cases: list[GrpcCase], clip_frames: list[dict]) -> list[str]:
    server = transport.server
    pids = worker_pids(server.management_url, server.headers("management"), "asl100")
    failures = []
    for case in cases:
        failures += [problem] if (problem := transport.problem(case)) else []
        if not transport.valid_is_answered(clip_frames):
            failures.append(f"{case.name}: the valid call after it was not answered correctly")
    if worker_pids(server.management_url, server.headers("management"), "asl100") != pids:
        failures.append(f"the workers changed: {pids}")
    return failures


@pytest.fixture(scope="module")
def kservev2(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TorchServe]:
    """An asl100 instance with the KServe v2 envelope and the open-inference gRPC service."""
    instance = TorchServe(tmp_path_factory.mktemp("kservev2-hostile"), model_store, ports=Ports.free(),
                          overrides={"service_envelope": "kservev2", "ts_open_inference_protocol": "true"})
    instance.start(["asl100"], timeout=240)
    yield instance
    assert instance.stop()


def test_catalogues_cover_every_applicable_case() -> None:
    assert len(PREDICTIONS) >= 70 and len({case.name for case in PREDICTIONS}) == len(PREDICTIONS)
    assert len(MODEL_INFER) >= 20 and len({case.name for case in MODEL_INFER}) == len(MODEL_INFER)


def test_predictions_hostile_catalogue(server: TorchServe, clip_frames: list[dict]) -> None:
    failures = run_catalogue(Transport(server, "Predictions"), PREDICTIONS, clip_frames)
    assert not failures, "\n".join(failures)


def test_model_infer_hostile_catalogue(kservev2: TorchServe, clip_frames: list[dict]) -> None:
    failures = run_catalogue(Transport(kservev2, "ModelInfer"), MODEL_INFER, clip_frames)
    assert not failures, "\n".join(failures)


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def test_the_client_names_a_full_queue_as_overload() -> None:
    from scripts.client.core import Endpoint
    from scripts.client.grpc_client import rpc_error

    endpoint = Endpoint("http://127.0.0.1:1", "http://127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4")
    full = FakeRpcError(grpc.StatusCode.INTERNAL, 'Model "asl100" has no worker to serve inference request. Please use')
    assert "overloaded: the model's job queue is full" in str(rpc_error(full, "Predictions asl100", "inference", endpoint))
    other = FakeRpcError(grpc.StatusCode.INTERNAL, "Model not found: nope")
    assert "overloaded" not in str(rpc_error(other, "Predictions nope", "inference", endpoint))
