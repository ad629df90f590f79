"""Replicas needed for a target request rate, from a short bounded measurement of one TorchServe.

    python -m scripts.bench.capacity --model asl100 --clients 16 --seconds 20 --targets 100 500 2000

Starts TorchServe (this project's config and archives) on free loopback ports, sends the WLASL clip
from `--clients` threads for at most `--seconds` / `--requests`, stops it, and prints throughput,
latency percentiles and replicas = ceil(target / (throughput * utilisation)) for each target.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path


from scripts.bench.loadgen import run_load
from scripts.client.core import load_input
from scripts.serve.torchserve_ctl import DEFAULT_STORE, Ports, TorchServe
from scripts.wlasl_data import reference_clip


def replicas_needed(target_rps: float, replica_rps: float, utilisation: float) -> int:
    """Replicas that serve `target_rps` with each replica loaded to `utilisation` of its measured throughput."""
    return max(1, math.ceil(target_rps / (replica_rps * utilisation)))


def measure(server: TorchServe, model: str, body: dict, clients: int, seconds: float, limit: int) -> dict:
    """Closed-loop load from `clients` threads (scripts/bench/loadgen.py); bounded by time and request count."""
    report = run_load(f"{server.inference_url}/predictions/{model}", json.dumps(body).encode(), server.headers(),
                      lambda response: True, clients, seconds, limit, timeout=60, retries=0)
    return {"requests": report.correct, "failed": report.lost, "seconds": round(report.seconds, 2),
            "requests_per_s": round(report.correct / report.seconds, 1),
            "p50_ms": round(report.percentile(50), 1), "p95_ms": round(report.percentile(95), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="asl100")
    parser.add_argument("--model-store", type=Path, default=DEFAULT_STORE)
    parser.add_argument("--clip", type=Path, default=None, help="OpenPose frame folder (default: WLASL clip 32162)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--requests", type=int, default=20000, help="stop after this many requests")
    parser.add_argument("--utilisation", type=float, default=0.7, help="target load per replica (HPA target)")
    parser.add_argument("--targets", type=float, nargs="+", default=[100, 500, 2000], help="requests/s to plan for")
    args = parser.parse_args(argv)
    body = load_input(args.clip or reference_clip())
    with tempfile.TemporaryDirectory(prefix="tgcn-capacity-") as run_dir:
        server = TorchServe(Path(run_dir), args.model_store, ports=Ports.free())
        server.start([args.model])
        try:
            measure(server, args.model, body, 2, 2.0, 50)  # warm-up
            result = measure(server, args.model, body, args.clients, args.seconds, args.requests)
        finally:
            server.stop()
    result["replicas"] = {str(int(target)): replicas_needed(target, result["requests_per_s"], args.utilisation)
                          for target in args.targets}
    print(json.dumps({"model": args.model, "clients": args.clients, **result}, indent=2))
    return 0 if result["requests"] and not result["failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
