"""Clients for an instance started with `service_envelope=kserve` (v1) or `kservev2` (v2, HTTP and gRPC).

The handler's envelope mapping is described in handlers/envelopes.py. v2 answers are three flat
outputs of B * k entries (glosses, probabilities, indices); `v2_answers` turns them back into one
top-k answer per sample, in the native format.
"""
from __future__ import annotations

import json
from typing import Any

import grpc
import numpy as np
import requests

from scripts.client import grpc_stubs
from scripts.client.core import ClientError, Endpoint, auth_header, auth_metadata, check_answer, read_token
from scripts.client.grpc_client import rpc_error


def _post(endpoint: Endpoint, url: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    headers = auth_header(read_token(endpoint.key_file))
    try:
        response = requests.post(url, json=body, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        raise ClientError(f"cannot reach {url}: {exc}") from None
    try:
        answer = response.json()
    except ValueError:
        raise ClientError(f"{url} answered {response.status_code}: {response.text[:200]}", response.status_code) \
            from None
    if response.status_code != 200:
        raise ClientError(f"{url} answered {response.status_code}: {_v2_error(answer) or answer}",
                          response.status_code)
    return answer


def v1_predict(endpoint: Endpoint, model: str, instances: list[Any], timeout: float = 60.0) -> list[dict[str, Any]]:
    """POST {"instances": [...]} to /v1/models/<model>:predict; one native answer per instance."""
    url = f"{endpoint.inference_url}/v1/models/{model}:predict"
    predictions = _post(endpoint, url, {"instances": instances}, timeout)["predictions"]
    return [check_answer(answer, url) for answer in predictions]


def v2_request(samples: np.ndarray, top_k: int | None = None) -> dict[str, Any]:
    """The v2 JSON body for a [B, 55, 100] FP32 tensor (and an optional top_k)."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples[None]
    inputs = [{"name": "samples", "shape": list(samples.shape), "datatype": "FP32", "data": samples.ravel().tolist()}]
    if top_k is not None:
        inputs.append({"name": "top_k", "shape": [1], "datatype": "INT32", "data": [int(top_k)]})
    return {"inputs": inputs}


def v2_infer(endpoint: Endpoint, model: str, samples: np.ndarray, top_k: int | None = None,
             version: str | None = None, timeout: float = 60.0) -> list[dict[str, Any]]:
    """POST to /v2/models/<model>[/versions/<v>]/infer; one native-format answer per sample."""
    url = f"{endpoint.inference_url}/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/infer"
    body = v2_request(samples, top_k)
    return v2_answers(_post(endpoint, url, body, timeout), body["inputs"][0]["shape"][0])


def v2_infer_grpc(endpoint: Endpoint, model: str, samples: np.ndarray, top_k: int | None = None,
                  version: str | None = None, timeout: float = 60.0) -> list[dict[str, Any]]:
    """ModelInfer over open_inference_grpc.proto (the instance needs ts_open_inference_protocol=true)."""
    stubs = grpc_stubs.load()
    pb2 = stubs["open_inference_grpc_pb2"]
    body = v2_request(samples, top_k)
    request = pb2.ModelInferRequest(model_name=model, model_version=version or "")
    for tensor in body["inputs"]:
        entry = request.inputs.add(name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"])
        contents = entry.contents.fp32_contents if tensor["datatype"] == "FP32" else entry.contents.int_contents
        contents.extend(tensor["data"])
    stub = stubs["open_inference_grpc_pb2_grpc"].GRPCInferenceServiceStub(grpc.insecure_channel(endpoint.grpc_inference))
    metadata = auth_metadata(read_token(endpoint.key_file))
    try:
        reply = stub.ModelInfer(request, metadata=metadata, timeout=timeout)
    except grpc.RpcError as error:
        raise rpc_error(error, f"ModelInfer {model}", "inference", endpoint) from None
    outputs = [{"name": out.name, "datatype": out.datatype, "data": _contents(out)} for out in reply.outputs]
    return v2_answers({"model_name": reply.model_name, "model_version": reply.model_version, "outputs": outputs},
                      body["inputs"][0]["shape"][0])


def _contents(output: Any) -> list[Any]:
    """A gRPC output tensor's values (TorchServe sends BYTES as JSON-quoted strings)."""
    if output.datatype == "BYTES":
        return [json.loads(value.decode("utf-8")) for value in output.contents.bytes_contents]
    if output.datatype == "FP32":
        return list(output.contents.fp32_contents)
    return list(output.contents.int64_contents)


def _v2_error(answer: Any) -> str | None:
    if isinstance(answer, dict):
        for output in answer.get("outputs", []):
            if output.get("name") == "error":
                return str(output["data"][0])
    return None


def v2_answers(answer: dict[str, Any], batch: int) -> list[dict[str, Any]]:
    """A v2 response -> one {"model", "version", "top_k": [...]} per sample (the native format)."""
    error = _v2_error(answer)
    if error:
        raise ClientError(f"the model rejected the request: {error}", 400)
    outputs = {output["name"]: output["data"] for output in answer["outputs"]}
    glosses, probabilities, indices = outputs["glosses"], outputs["probabilities"], outputs["indices"]
    k = len(glosses) // batch
    return [{"model": answer["model_name"], "version": answer["model_version"],
             "top_k": [{"gloss": glosses[i], "index": int(indices[i]), "probability": float(probabilities[i])}
                       for i in range(b * k, (b + 1) * k)]} for b in range(batch)]
