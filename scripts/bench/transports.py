"""Latency of one client over HTTP vs gRPC (and KServe v1/v2) against a running TorchServe, side by side.

    python -m scripts.bench.transports [--requests 50] [--model asl100] [--input ../shared/data/wlasl/pose/32162]

Transports are interleaved request by request so that machine noise hits them alike; run it on a
quiet machine and report the ratios, not the absolute numbers. KServe transports are measured only
with --kserve-config (the config.properties of an instance started with service_envelope=...).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from scripts.bench.loadgen import percentile
from scripts.client import connect, kserve_client
from scripts.client.core import BASE_CONFIG, ClientError, DEFAULT_KEY_FILE, Endpoint, load_input, read_properties
from scripts.wlasl_data import reference_clip


def measure(calls: dict[str, Callable[[], object]], requests: int) -> dict[str, list[float]]:
    """Milliseconds per call for each named call, interleaved, after one warm-up call each."""
    for call in calls.values():
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(requests):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - start) * 1000)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50, help="requests per transport (at most 1000)")
    parser.add_argument("--model", default="asl100")
    parser.add_argument("--input", type=Path, default=None, help="default: WLASL clip 32162")
    parser.add_argument("--config", type=Path, default=BASE_CONFIG)
    parser.add_argument("--key-file", type=Path, default=DEFAULT_KEY_FILE)
    parser.add_argument("--kserve-config", type=Path, help="config.properties of a kservev2 or kserve instance")
    parser.add_argument("--kserve-key-file", type=Path)
    args = parser.parse_args(argv)
    body = load_input(args.input or reference_clip())
    endpoint = Endpoint.from_config(args.config, args.key_file)
    http, grpc_client = connect(endpoint, "http"), connect(endpoint, "grpc")
    calls: dict[str, Callable[[], object]] = {"http": lambda: http.predict(args.model, body),
                                               "grpc": lambda: grpc_client.predict(args.model, body)}
    if args.kserve_config:
        kserve = Endpoint.from_config(args.kserve_config, args.kserve_key_file or args.key_file)
        envelope = read_properties(args.kserve_config).get("service_envelope")
        sample = np.random.default_rng(0).uniform(-1, 1, (55, 100)).astype(np.float32)
        if envelope == "kserve":
            calls["kserve-v1"] = lambda: kserve_client.v1_predict(kserve, args.model, [body])
        elif envelope == "kservev2":
            calls["kservev2-http (sample)"] = lambda: kserve_client.v2_infer(kserve, args.model, sample)
            calls["kservev2-grpc (sample)"] = lambda: kserve_client.v2_infer_grpc(kserve, args.model, sample)
    try:
        times = measure(calls, min(args.requests, 1000))
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    base = statistics.median(times["http"])
    print(f"{args.requests} requests each, interleaved, model {args.model}")
    for name, values in times.items():
        p50 = statistics.median(values)
        p90 = percentile(values, 90)
        print(f"{name:<24} p50 {p50:7.2f} ms  p90 {p90:7.2f} ms  p50 vs http {p50 / base:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
