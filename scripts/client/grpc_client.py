"""The gRPC transport of scripts.client.core: TorchServe's InferenceAPIsService and ManagementAPIsService.

Stubs come from scripts.client.grpc_stubs (generated from the vendored TorchServe 0.12 protos).
The token travels as `authorization: Bearer <key>` metadata; gRPC status codes become ClientErrors.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import grpc

from scripts.client import grpc_stubs
from scripts.client.core import ClientError, Endpoint, auth_metadata, check_answer, read_token

STATUS_HINTS = {
    grpc.StatusCode.PERMISSION_DENIED: "the {kind} token from {key_file} was rejected (wrong, expired or from "
                                       "another instance)",
    grpc.StatusCode.UNAUTHENTICATED: "the {kind} token from {key_file} was rejected",
    grpc.StatusCode.NOT_FOUND: "not found",
    grpc.StatusCode.INVALID_ARGUMENT: "bad request",
    grpc.StatusCode.UNAVAILABLE: "server unreachable, or the prediction failed",
    grpc.StatusCode.DEADLINE_EXCEEDED: "no answer within the timeout",
    grpc.StatusCode.INTERNAL: "server error (TorchServe also reports an unknown model this way)",
    grpc.StatusCode.UNIMPLEMENTED: "this instance does not offer that service",
}

# TorchServe 0.12 refuses a request that a model's full job queue cannot take (HTTP 503) over gRPC
# with INTERNAL and this message, which blames the workers; the client names the real cause.
QUEUE_FULL = "has no worker to serve inference request"


def rpc_error(error: grpc.RpcError, what: str, kind: str, endpoint: Endpoint) -> ClientError:
    """A gRPC failure as a ClientError whose message names the status and what it means here."""
    code = error.code()
    hint = STATUS_HINTS.get(code, "failed").format(kind=kind, key_file=endpoint.key_file)
    if code == grpc.StatusCode.INTERNAL and QUEUE_FULL in (error.details() or ""):
        hint = "overloaded: the model's job queue is full (job_queue_size); retry later"
    detail = (error.details() or "").splitlines()[0] if error.details() else ""
    return ClientError(f"{what}: {code.name}: {hint}" + (f" ({detail})" if detail else ""))


class GrpcClient:
    """Predictions and management over TorchServe's gRPC ports."""

    def __init__(self, endpoint: Endpoint, timeout: float = 60.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        stubs = grpc_stubs.load()
        self.inference_pb2 = stubs["inference_pb2"]
        self.management_pb2 = stubs["management_pb2"]
        self.inference = stubs["inference_pb2_grpc"].InferenceAPIsServiceStub(
            grpc.insecure_channel(endpoint.grpc_inference))
        self.management = stubs["management_pb2_grpc"].ManagementAPIsServiceStub(
            grpc.insecure_channel(endpoint.grpc_management))

    def _call(self, method: Callable[..., Any], request: Any, kind: str, what: str) -> Any:
        metadata = auth_metadata(read_token(self.endpoint.key_file, kind))
        try:
            return method(request, metadata=metadata, timeout=self.timeout)
        except grpc.RpcError as error:
            raise rpc_error(error, what, kind, self.endpoint) from None

    def _manage(self, name: str, what: str, **fields: Any) -> str:
        request = getattr(self.management_pb2, f"{name}Request")(**fields)
        return self._call(getattr(self.management, name), request, "management", what).msg

    def predict(self, model: str, body: dict[str, Any], version: str | None = None) -> dict[str, Any]:
        """Predictions RPC with the JSON body as the `data` input."""
        request = self.inference_pb2.PredictionsRequest(model_name=model, model_version=version or "",
                                                        input={"data": json.dumps(body).encode("utf-8")})
        what = f"Predictions {model}" + (f"/{version}" if version else "")
        reply = self._call(self.inference.Predictions, request, "inference", what)
        try:
            answer = json.loads(reply.prediction)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ClientError(f"{what}: the answer is not JSON: {reply.prediction[:200]!r}") from None
        return check_answer(answer, what)

    def list_models(self) -> list[str]:
        answer = json.loads(self._manage("ListModels", "ListModels", limit=1000))
        return [entry["modelName"] for entry in answer["models"]]

    def describe(self, model: str, version: str | None = "all") -> list[dict[str, Any]]:
        """`model` as the management API describes it: every version ("all"), one, or (None) the default."""
        return json.loads(self._manage("DescribeModel", f"DescribeModel {model}", model_name=model,
                                       model_version=version or ""))

    def register(self, archive: str, batch_size: int | None = None, workers: int = 1) -> str:
        fields: dict[str, Any] = {"url": archive, "initial_workers": workers, "synchronous": True}
        if batch_size:
            fields["batch_size"] = batch_size
        return self._status(self._manage("RegisterModel", f"RegisterModel {archive}", **fields))

    def set_default(self, model: str, version: str) -> str:
        return self._manage("SetDefault", f"SetDefault {model}/{version}", model_name=model, model_version=version)

    def scale(self, model: str, workers: int, version: str | None = None) -> str:
        return self._status(self._manage("ScaleWorker", f"ScaleWorker {model}", model_name=model,
                                         model_version=version or "", min_worker=workers, max_worker=workers,
                                         synchronous=True))

    def unregister(self, model: str, version: str | None = None) -> str:
        return self._status(self._manage("UnregisterModel", f"UnregisterModel {model}", model_name=model,
                                         model_version=version or ""))

    @staticmethod
    def _status(message: str) -> str:
        """TorchServe answers some management RPCs with a JSON {"status": ...}; others with plain text."""
        try:
            return json.loads(message)["status"]
        except (json.JSONDecodeError, KeyError, TypeError):
            return message
