"""Log flooding: how many log bytes 1,000 rejected requests cost, and whether log rolling caps the total.

Sends `--count` bad requests (invalid JSON, an unknown field, a clip without hands, top_k 0 over
HTTP; invalid JSON and a clip without hands over gRPC Predictions), checks that each is refused with
its 4xx, and reports the bytes every log file grew by per 1,000 of them. With `--roll-size 64KB` the
instance runs with configs/log4j2.xml rolling at that size instead of 20 MB, and the report lists the
files on disk and their total, which must stay under (kept + 1) x roll size per log.

    python -m scripts.bench.log_flood --count 2000                      # its own TorchServe, project logging
    python -m scripts.bench.log_flood --count 20000 --roll-size 64KB    # rolling caps the total
"""
from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

import grpc
import requests

from scripts.bench.loadgen import drive
from scripts.bench.soak import log_bytes, per_thousand
from scripts.client import grpc_stubs
from scripts.serve.torchserve_ctl import DEFAULT_STORE, LOG_CONFIG, Ports, TorchServe

NO_HANDS = json.dumps({"openpose_frames": [{"people": [{"pose_keypoints_2d": [0.0] * 75}]}] * 20}).encode()
# (body, expected HTTP status): each answer's JSON error must name the problem.
BAD_BODIES = [(b'{"frames": [1,', 400, "not valid JSON"), (b'{"evil": 1}', 400, "unknown field"),
              (NO_HANDS, 422, "not enough hand keypoints"), (b'{"frames": [], "top_k": 0}', 400, "top_k")]
GRPC_BODIES = [BAD_BODIES[0], BAD_BODIES[2]]
SIZE = re.compile(r'size="[^"]+"')


def rolling_config(roll_size: str, directory: Path) -> Path:
    """configs/log4j2.xml with every file rolling at `roll_size` (for example 64KB) instead of 20 MB."""
    path = directory / "log4j2-small.xml"
    path.write_text(SIZE.sub(f'size="{roll_size}"', LOG_CONFIG.read_text(encoding="utf-8")), encoding="utf-8")
    return path


def bad_http(server: TorchServe, model: str) -> Callable[[int], str | None]:
    """Send bad body number i over HTTP; None when refused as expected, else what went wrong."""
    url, headers = f"{server.inference_url}/predictions/{model}", {**server.headers(), "Content-Type": "application/json"}
    local = threading.local()

    def send(i: int) -> str | None:
        body, status, needle = BAD_BODIES[i % len(BAD_BODIES)]
        local.session = getattr(local, "session", None) or requests.Session()
        response = local.session.post(url, data=body, headers=headers, timeout=30)
        if response.status_code != status or needle not in response.text:
            return f"HTTP {body[:20]!r}: {response.status_code} {response.text[:120]}"
        return None
    return send


def bad_grpc(server: TorchServe, model: str) -> Callable[[int], str | None]:
    """Send bad body number i over gRPC Predictions: TorchServe answers OK with the handler's error body."""
    stubs = grpc_stubs.load()
    stub = stubs["inference_pb2_grpc"].InferenceAPIsServiceStub(grpc.insecure_channel(server.endpoint().grpc_inference))
    metadata = (("authorization", server.headers()["Authorization"]),)

    def send(i: int) -> str | None:
        body, status, needle = GRPC_BODIES[i % len(GRPC_BODIES)]
        request = stubs["inference_pb2"].PredictionsRequest(model_name=model, input={"data": body})
        try:
            reply = stub.Predictions(request, metadata=metadata, timeout=30)
        except grpc.RpcError as error:
            return f"gRPC {body[:20]!r}: {error.code().name} {error.details()}"
        answer = json.loads(reply.prediction)
        return None if answer.get("status") == status and needle in answer.get("error", "") else f"gRPC: {answer}"
    return send


def flood(server: TorchServe, model: str, count: int, clients: int = 4) -> dict[str, Any]:
    """`count` bad requests (two HTTP to one gRPC) from `clients` threads; log bytes per 1,000 of them."""
    senders = [bad_http(server, model), bad_http(server, model), bad_grpc(server, model)]
    numbers, lock, failures = itertools.count(), threading.Lock(), []

    def call() -> int | None:
        with lock:
            i = next(numbers)
        if i >= count:
            return None
        failure = senders[i % 3](i // 3)
        if failure:
            with lock:
                failures.append(failure)
        return 1

    start = log_bytes(server)
    latencies, sent, _ = drive(call, clients, seconds=3600.0)
    threading.Event().wait(1.0)  # let the last lines reach the disk
    return {"bad_requests": sent, "refused_as_expected": sent - len(failures), "first_failures": failures[:5],
            "log_bytes_per_1000_bad_requests": per_thousand(start, log_bytes(server), sent)}


def on_disk(server: TorchServe) -> dict[str, Any]:
    """The log files on disk and their total size."""
    files = sorted(path for path in (server.run_dir / "logs").glob("*") if path.is_file())
    return {"files": {path.name: path.stat().st_size for path in files},
            "total_bytes": sum(path.stat().st_size for path in files)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="asl100")
    parser.add_argument("--count", type=int, default=2000, help="bad requests to send (default 2000)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--model-store", type=Path, default=DEFAULT_STORE)
    parser.add_argument("--roll-size", default=None, help="roll the logs at this size (e.g. 64KB) instead of 20 MB")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="log-flood-") as scratch:
        config = rolling_config(args.roll_size, Path(scratch)) if args.roll_size else LOG_CONFIG
        server = TorchServe(Path(scratch) / "run", args.model_store, ports=Ports.free(), log_config=config)
        server.start([args.model])
        try:
            result = {"roll_size": args.roll_size,
                      **flood(server, args.model, args.count, args.clients)}
            if args.roll_size:
                result["on_disk"] = on_disk(server)
        finally:
            server.stop()
    print(json.dumps(result, indent=2))
    return 0 if result["refused_as_expected"] == result["bad_requests"] else 1


if __name__ == "__main__":
    sys.exit(main())
