"""Hostile requests over gRPC: TorchServe's Predictions (inference.proto) and KServe v2 ModelInfer
(open_inference_grpc.proto), each with the answer it must get.

Predictions carries no Content-Type, so the HTTP catalogue's cases that test content types,
multipart bodies or the HTTP body limit do not apply; every other HTTP case is sent as the `data`
input. A rejected input is answered with gRPC status OK and the handler's {"error", "status"} body
(TorchServe sends the handler's answer whatever its status); the call-level problems (size, model,
version, token) get a gRPC status with TorchServe's message.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tests.hostile_cases import CASES, JSON, Hostile

BIG = 7_000_000  # over max_request_size (6,553,500 bytes), which TorchServe also applies to gRPC messages
GRPC_OK = "OK"


@dataclass(frozen=True)
class GrpcCase:
    """One hostile call. `fields` go into the request message; `inputs` are its Predictions inputs or
    ModelInfer tensors (name, datatype, shape, contents field, values); `token` is 'inference', 'management',
    'none', 'bare' (without Bearer) or 'wrong'. The answer must have gRPC status `code`, and `needle` in
    the error body (status OK) or in the status details (otherwise); `status` is the body's status."""

    name: str
    code: str
    needle: str
    status: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    inputs: Any = None
    token: str = "inference"
    raw: list[bytes] | None = None


def applies_to_grpc(case: Hostile) -> bool:
    """HTTP cases that mean the same over Predictions: JSON or .npy bodies within the size limit."""
    return case.content_type in (JSON, "application/octet-stream") and case.status != 413


PREDICTIONS = [GrpcCase(f"http: {c.name}", GRPC_OK, c.needle, c.status, inputs={"data": c.body})
               for c in CASES if applies_to_grpc(c)] + [
    GrpcCase("no inputs", GRPC_OK, "no request body found", 400, inputs={}),
    GrpcCase("input not named data", GRPC_OK, "no request body found", 400, inputs={"frames": b"[]"}),
    GrpcCase("oversized message", "CANCELLED", "RST_STREAM", inputs={"data": b" " * BIG}),
    GrpcCase("unknown model", "INTERNAL", "Model not found: nope", fields={"model_name": "nope"}, inputs={"data": b"{}"}),
    GrpcCase("no model name", "INTERNAL", "model_name is required", fields={"model_name": ""}, inputs={"data": b"{}"}),
    GrpcCase("unknown version", "INTERNAL", "Model version: 9.9 does not exist", fields={"model_version": "9.9"},
             inputs={"data": b"{}"}),
    GrpcCase("no token", "PERMISSION_DENIED", "Token Authorization failed", token="none", inputs={"data": b"{}"}),
    GrpcCase("wrong token", "PERMISSION_DENIED", "Token Authorization failed", token="wrong", inputs={"data": b"{}"}),
    GrpcCase("token without Bearer", "PERMISSION_DENIED", "Token Authorization failed", token="bare",
             inputs={"data": b"{}"}),
    GrpcCase("management token", "PERMISSION_DENIED", "Token Authorization failed", token="management",
             inputs={"data": b"{}"}),
]

SAMPLE = np.random.default_rng(15).uniform(-1, 1, 5500).astype(np.float32).tolist()
SAMPLES = ("samples", "FP32", [1, 55, 100], "fp32_contents", SAMPLE)
TOP_K = ("top_k", "INT32", [1], "int_contents", [3])
ONE_TENSOR = "needs exactly one FP32 input of shape [B, 55, 100]"
STOCK_ENVELOPE = "Prediction failed"  # TorchServe's kservev2 envelope fails before the handler (README)


def v2(name: str, code: str, needle: str, *inputs: tuple, **kwargs: Any) -> GrpcCase:
    return GrpcCase(name, code, needle, 400 if code == GRPC_OK else None, inputs=list(inputs), **kwargs)


MODEL_INFER = [
    v2("sample (55, 99)", GRPC_OK, "got (55, 99)", ("samples", "FP32", [1, 55, 99], "fp32_contents", SAMPLE[:5445])),
    v2("rank 1 tensor", GRPC_OK, "must have shape [B, 55, 100], got [5500]", ("samples", "FP32", [5500], "fp32_contents", SAMPLE)),
    v2("INT64 samples", GRPC_OK, ONE_TENSOR, ("samples", "INT64", [1, 55, 100], "int64_contents", [1] * 5500)),
    v2("BYTES samples", GRPC_OK, ONE_TENSOR, ("samples", "BYTES", [1], "bytes_contents", [b"hello"])),
    v2("out of range values", GRPC_OK, "the limit is 782", ("samples", "FP32", [1, 55, 100], "fp32_contents", [1e30] * 5500)),
    v2("top_k 0", GRPC_OK, "top_k must be an integer from 1 to 100, got 0", SAMPLES, ("top_k", "INT32", [1], "int_contents", [0])),
    v2("top_k 101", GRPC_OK, "got 101", SAMPLES, ("top_k", "INT64", [1], "int64_contents", [101])),
    v2("top_k FP32", GRPC_OK, ONE_TENSOR, SAMPLES, ("top_k", "FP32", [1], "fp32_contents", [3.0])),
    v2("top_k two values", GRPC_OK, "top_k must be one integer", SAMPLES, ("top_k", "INT32", [2], "int_contents", [3, 4])),
    v2("unknown tensor", GRPC_OK, ONE_TENSOR, SAMPLES, ("evil", "INT32", [1], "int_contents", [1])),
    v2("two sample tensors", GRPC_OK, ONE_TENSOR, SAMPLES, SAMPLES),
    # Malformed tensors that TorchServe's stock kservev2 envelope fails on before the handler sees them.
    v2("no input tensors", "UNAVAILABLE", "number of batch response mismatched"),
    v2("shape larger than the data", "UNAVAILABLE", STOCK_ENVELOPE, ("samples", "FP32", [2, 55, 100], "fp32_contents", SAMPLE)),
    v2("tensor without contents", "UNAVAILABLE", STOCK_ENVELOPE, ("samples", "FP32", [1, 55, 100], None, None)),
    v2("unknown datatype name", "UNAVAILABLE", STOCK_ENVELOPE, ("samples", "FLOAT", [1, 55, 100], "fp32_contents", SAMPLE)),
    v2("raw_input_contents", "UNAVAILABLE", STOCK_ENVELOPE, ("samples", "FP32", [1, 55, 100], None, None),
       raw=[struct.pack("<5500f", *SAMPLE)]),
    # NaN: TorchServe's frontend fails converting the tensor and answers UNKNOWN without a message.
    v2("NaN values", "UNKNOWN", "", ("samples", "FP32", [1, 55, 100], "fp32_contents", [float("nan")] * 5500)),
    # Call-level problems.
    v2("oversized message", "CANCELLED", "RST_STREAM", ("samples", "FP32", [300, 55, 100], "fp32_contents", SAMPLE * 300)),
    v2("unknown model", "INTERNAL", "Model not found: nope", SAMPLES, fields={"model_name": "nope"}),
    v2("unknown version", "INTERNAL", "Model version: 9.9 does not exist", SAMPLES, fields={"model_version": "9.9"}),
    v2("no token", "PERMISSION_DENIED", "Token Authorization failed", SAMPLES, token="none"),
    v2("wrong token", "PERMISSION_DENIED", "Token Authorization failed", SAMPLES, token="wrong"),
    v2("management token", "PERMISSION_DENIED", "Token Authorization failed", SAMPLES, token="management"),
]
