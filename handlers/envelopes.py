"""KServe envelopes (TorchServe's `service_envelope=kserve|kservev2`) <-> the handler's bodies and answers.

TorchServe's stock envelopes wrap the handler's `handle`; they read only the first request of a
batch and answer with one response, so an instance serving them runs its models with batch size 1.
What they pass to the handler, and what this module makes of it:

- native (no envelope): one row per request, `{"body": ...}` (or `{"data": ...}` for multipart);
  one answer per row.
- kserve (v1, `POST /v1/models/<name>:predict {"instances": [...]}`): the rows are the instances;
  each is a native body (JSON object with openpose_frames, frames or sample) or a prepared
  (55, 100) sample (nested list). The answers,
  one per instance, are returned as a list that the envelope wraps into `{"predictions": [...]}`.
- kservev2 (v2, `POST /v2/models/<name>/infer`, or `ModelInfer` over open_inference_grpc.proto):
  the rows are the request's input tensors `{"name", "shape", "datatype", "data"}`: one FP32/FP64
  tensor of shape [B, 55, 100] (B prepared samples), optionally an integer tensor named `top_k`
  of shape [1]. The answer is three output tensors of B * k entries, sample after sample:
  `glosses` (BYTES), `probabilities` (FP32) and `indices` (INT64). The envelope names outputs
  after `context.input_names`, which is set here accordingly.
A bad request under an envelope gets status 400 and an `error` entry naming the problem.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from handlers.errors import InputError

NATIVE, KSERVE_V1, KSERVE_V2 = "native", "kserve", "kservev2"
NATIVE_KEYS = {"body", "data"}
V2_TENSOR_KEYS = {"name", "shape", "datatype", "data"}
V2_FLOAT_TYPES = {"FP16", "FP32", "FP64"}
V2_INT_TYPES = {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
V2_OUTPUTS = ("glosses", "probabilities", "indices")


@dataclass(frozen=True)
class Unwrapped:
    """The bodies to decode (one per answer) and the protocol they came in."""

    protocol: str
    bodies: list[Any]


def protocol_of(rows: Any) -> str:
    """Which envelope produced these handler rows (v1 passes its `instances` value as is)."""
    if not isinstance(rows, list):
        return KSERVE_V1
    if rows and all(isinstance(row, dict) and "datatype" in row and set(row) >= V2_TENSOR_KEYS for row in rows):
        return KSERVE_V2
    if all(_is_native_row(row) for row in rows):
        return NATIVE
    return KSERVE_V1


def _is_native_row(row: Any) -> bool:
    """A row TorchServe built from one request: its parameters (body, data or form fields) by name."""
    if not isinstance(row, dict):
        return False
    if NATIVE_KEYS & set(row):
        return True
    # Form fields and multipart parts arrive as bytes or text; v1 instances hold JSON values.
    return all(isinstance(value, (bytes, bytearray, str)) for value in row.values())


def unwrap(rows: Any, native_body: Callable[[int, dict[str, Any]], Any]) -> Unwrapped:
    """Handler rows -> the request bodies the payload decoder understands (InputError for bad ones).

    `native_body(idx, row)` extracts the body of the batch's idx-th native row (the handler's own rule)."""
    protocol = protocol_of(rows)
    if protocol == NATIVE:
        return Unwrapped(protocol, [_guarded(native_body, idx, row) for idx, row in enumerate(rows)])
    if protocol == KSERVE_V1:
        if not isinstance(rows, list) or not rows:
            return Unwrapped(protocol, [InputError('a KServe v1 body is {"instances": [...]} with at least one '
                                                   "instance (a request object or a (55, 100) sample)")])
        return Unwrapped(protocol, [{"sample": row} if isinstance(row, list) else row for row in rows])
    try:
        return Unwrapped(protocol, v2_bodies(rows))
    except InputError as error:
        return Unwrapped(protocol, [error])


def _guarded(extract: Callable[[int, dict[str, Any]], Any], idx: int, row: dict[str, Any]) -> Any:
    """extract(idx, row), or the InputError it raises."""
    try:
        return extract(idx, row)
    except InputError as error:
        return error


def v2_bodies(tensors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """v2 input tensors -> one {"sample": (55, 100), "top_k": k} body per sample of the batch."""
    samples = [t for t in tensors if t["datatype"] in V2_FLOAT_TYPES]
    top_k = [t for t in tensors if t["name"] == "top_k"]
    other = [t["name"] for t in tensors if t not in samples and t not in top_k]
    if len(samples) != 1 or other:
        raise InputError("a v2 request needs exactly one FP32 input of shape [B, 55, 100] (and optionally an "
                         f"integer input named top_k); got {[(t['name'], t['datatype']) for t in tensors]}")
    array = np.asarray(samples[0]["data"])
    if array.ndim != 3:
        raise InputError(f"input {samples[0]['name']!r} must have shape [B, 55, 100], got {list(array.shape)}")
    body: dict[str, Any] = {}
    if top_k:
        if top_k[0]["datatype"] not in V2_INT_TYPES or np.size(top_k[0]["data"]) != 1:
            raise InputError("input top_k must be one integer (shape [1], an INT datatype)")
        body["top_k"] = int(np.ravel(top_k[0]["data"])[0])
    return [{"sample": sample, **body} for sample in array]


def wrap(protocol: str, answers: list[dict[str, Any] | InputError], context: Any) -> list[Any]:
    """Answers (top-k dicts, or InputError) -> what the envelope expects back from the handler.

    Under an envelope there is one real request (index 0): its status becomes 400 if any
    answer is an error. Native answers are returned unchanged (one per request)."""
    if protocol == NATIVE:
        return answers
    errors = [answer for answer in answers if isinstance(answer, InputError)]
    if errors:
        context.set_response_status(errors[0].status, str(errors[0]), idx=0)
    if protocol == KSERVE_V1:
        return [error_body(a) if isinstance(a, InputError) else a for a in answers]
    if errors:
        context.input_names = ["error"]
        return [[str(errors[0])]]
    context.input_names = list(V2_OUTPUTS)
    entries = [entry for answer in answers for entry in answer["top_k"]]
    return [[entry["gloss"] for entry in entries],
            np.array([entry["probability"] for entry in entries], dtype=np.float32),
            np.array([entry["index"] for entry in entries], dtype=np.int64)]


def error_body(error: InputError) -> dict[str, Any]:
    """The JSON answer for a rejected request."""
    return {"error": str(error), "status": error.status}
