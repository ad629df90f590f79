"""Call kinds for mixed load (scripts/bench/loadgen.py `run_calls`): valid and hostile requests over HTTP
(to TorchServe or to the browser gateway in front of it) and gRPC Predictions, each checked. A call returns (outcome, attempts): 'correct', 'refused <status>'
for a refusal it expected (a hostile request's 4xx naming the problem; with `overload=True`, TorchServe's
refusal of a request its full job queue cannot take), or a failure description, which the load run
counts as lost.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import grpc
import requests

from scripts.bench.loadgen import Call, call as http_post, thread_session
from scripts.client import grpc_stubs
from scripts.client.grpc_client import QUEUE_FULL  # a full job queue, as TorchServe 0.12 says it over gRPC
from scripts.serve.torchserve_ctl import TorchServe

NO_HANDS = json.dumps({"openpose_frames": [{"people": [{"pose_keypoints_2d": [0.0] * 75}]}] * 20}).encode()
# Hostile bodies with the status and the words their answer must hold (the full catalogue: tests/hostile_cases.py).
HOSTILE = [(b'{"frames": [1,', 400, "not valid JSON"), (b'{"evil": 1}', 400, "unknown field"),
           (NO_HANDS, 422, "not enough hand keypoints"), (b'{"frames": [], "top_k": 0}', 400, "top_k")]
OVERLOADED = {503: "refused 503", grpc.StatusCode.UNAVAILABLE: "refused UNAVAILABLE",
              grpc.StatusCode.RESOURCE_EXHAUSTED: "refused RESOURCE_EXHAUSTED"}


@dataclass(frozen=True)
class Route:
    """Where an HTTP prediction is posted: TorchServe's inference API, or the browser gateway in front of it
    (scripts/gateway: no token, the same {"error", "status"} bodies for refusals)."""
    url: str
    headers: dict[str, str]

    @classmethod
    def torchserve(cls, server: TorchServe, model: str) -> Route:
        return cls(f"{server.inference_url}/predictions/{model}", {**server.headers(), "Content-Type": "application/json"})

    @classmethod
    def gateway(cls, base_url: str, model: str) -> Route:
        return cls(f"{base_url.rstrip('/')}/api/predict/{model}", {"Content-Type": "application/json"})


def is_gloss(answer: Any, gloss: str) -> bool:
    return isinstance(answer, dict) and bool(answer.get("top_k")) and answer["top_k"][0].get("gloss") == gloss


def post_once(local: threading.local, route: Route, body: bytes, timeout: float) -> requests.Response | str:
    """POST `body` once from this thread's session: the response, or why none came."""
    try:
        return thread_session(local).post(route.url, data=body, headers=route.headers, timeout=timeout)
    except requests.RequestException as exc:
        return f"no answer: {exc}"


def http_valid(route: Route, body: bytes, gloss: str, timeout: float = 60.0, overload: bool = False) -> Call:
    """POST a valid body; the answer's top-1 must be `gloss`. Without `overload`, a 503 is retried (loadgen.call)."""
    local = threading.local()

    def check(response: requests.Response) -> bool:
        return is_gloss(response.json(), gloss)

    def send() -> tuple[str, int]:
        if not overload:
            return http_post(thread_session(local), route.url, body, route.headers, check, timeout, retries=5)
        response = post_once(local, route, body, timeout)
        if isinstance(response, str):
            return response, 1
        if response.status_code in OVERLOADED:
            return OVERLOADED[response.status_code], 1
        return ("correct", 1) if response.status_code == 200 and check(response) else \
            (f"{response.status_code}: {response.text[:200]}", 1)
    return send


def http_hostile(route: Route, timeout: float = 60.0, bodies: list[tuple[bytes, int, str]] = HOSTILE) -> Call:
    """POST the hostile `bodies` in turn; each must be refused with its status and message."""
    local = threading.local()

    def send() -> tuple[str, int]:
        local.turn = getattr(local, "turn", -1) + 1
        body, status, needle = bodies[local.turn % len(bodies)]
        response = post_once(local, route, body, timeout)
        if isinstance(response, str):
            return response, 1
        if response.status_code == status and needle in response.text:
            return f"refused {status}", 1
        return f"{response.status_code}: hostile {body[:20]!r} got {response.text[:160]}", 1
    return send


def grpc_predict(server: TorchServe, model: str, timeout: float) -> Any:
    """A function sending one Predictions call with a `data` input -> (status code, reply)."""
    stubs = grpc_stubs.load()
    stub = stubs["inference_pb2_grpc"].InferenceAPIsServiceStub(grpc.insecure_channel(server.endpoint().grpc_inference))
    metadata = (("authorization", server.headers()["Authorization"]),)

    def predict(data: bytes) -> tuple[grpc.StatusCode, Any]:
        request = stubs["inference_pb2"].PredictionsRequest(model_name=model, input={"data": data})
        try:
            return grpc.StatusCode.OK, json.loads(stub.Predictions(request, metadata=metadata, timeout=timeout).prediction)
        except grpc.RpcError as error:
            return error.code(), error.details()
    return predict


def grpc_valid(server: TorchServe, model: str, body: bytes, gloss: str, timeout: float = 60.0,
               overload: bool = False) -> Call:
    """Predictions with a valid body; the top-1 must be `gloss` (with `overload`, UNAVAILABLE is a refusal)."""
    predict = grpc_predict(server, model, timeout)

    def send() -> tuple[str, int]:
        code, answer = predict(body)
        if code == grpc.StatusCode.OK and is_gloss(answer, gloss):
            return "correct", 1
        if overload and code in OVERLOADED:
            return OVERLOADED[code], 1
        if overload and code == grpc.StatusCode.INTERNAL and QUEUE_FULL in str(answer):
            return "refused INTERNAL (queue full)", 1
        return f"gRPC {code.name}: {str(answer)[:200]}", 1
    return send


def grpc_hostile(server: TorchServe, model: str, timeout: float = 60.0, bodies: list[tuple[bytes, int, str]] = HOSTILE) -> Call:
    """Predictions with the hostile `bodies` in turn: status OK and the handler's error body with its status."""
    predict = grpc_predict(server, model, timeout)
    local = threading.local()

    def send() -> tuple[str, int]:
        local.turn = getattr(local, "turn", -1) + 1
        body, status, needle = bodies[local.turn % len(bodies)]
        code, answer = predict(body)
        if code == grpc.StatusCode.OK and isinstance(answer, dict) and answer.get("status") == status \
                and needle in answer.get("error", ""):
            return f"refused {status}", 1
        return f"gRPC {code.name}: hostile {body[:20]!r} got {str(answer)[:160]}", 1
    return send
