"""Where the CPU goes in one served cell: the CPU time of each process (this process's client threads,
TorchServe's Java frontend, the model's workers and, with --busy, the neighbour that keeps one core
busy) per request, measured over the same window as the requests, HTTP and gRPC side by side, and
the fastest in-process path (make bench's baseline: 16 clips per call, spinning off when busy) beside them.

    python -m scripts.bench.cpu_share --variant asl2000 --clients 16 --busy   # archives from make bench
    python -m scripts.bench.cpu_share --variant asl100 --clients 1

The difference per request between the served and the in-process rows is what serving costs on the
same 2 CPUs (docs/performance.md, "Second pass").
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

from scripts.bench.cells import WORK, RawGrpcClient, fastest_calls, grpc_caller, http_caller
from scripts.bench.loadgen import busy_core, cpu_seconds, drive, frontend_pids, percentile, worker_pids
from scripts.client.core import load_input
from scripts.serve.torchserve_ctl import Ports, TorchServe
from scripts.wlasl_data import reference_clip


def measure(call: Callable[[], int], clients: int, seconds: float, groups: dict[str, list[int]]) -> dict[str, object]:
    """Drive `call` from `clients` threads; clips/s, p50 and each group's CPU ms per clip."""
    drive(call, clients, 2.0)  # warm-up
    start = {name: cpu_seconds(pids) for name, pids in groups.items()}
    latencies, samples, window = drive(call, clients, seconds)
    spent = {name: cpu_seconds(pids) - start[name] for name, pids in groups.items()}
    return {"clips_per_s": round(samples / window, 1), "p50_ms": round(1000 * percentile(latencies, 50), 2),
            "cpu_ms_per_clip": {name: round(1000 * value / samples, 2) for name, value in spent.items()},
            "cpu_ms_per_clip_total": round(1000 * sum(spent.values()) / samples, 2),
            "cpus_busy": {name: round(value / window, 2) for name, value in spent.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="asl2000")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--busy", action="store_true", help="keep one core busy (the benchmark's contention cell)")
    parser.add_argument("--store", type=Path, default=WORK / "store")
    args = parser.parse_args(argv)
    if not (args.store / f"{args.variant}.mar").is_file():
        print(f"error: {args.store / args.variant}.mar not found: run make bench once or pass --store", file=sys.stderr)
        return 1
    body = json.dumps(load_input(reference_clip())).encode()
    in_process = fastest_calls(args.store / f"{args.variant}.mar", body, 2)[(16, not args.busy)]
    ports = Ports.free()
    server = TorchServe(WORK / "run-cpu", args.store, ports=ports)
    server.start([args.variant], timeout=300)
    client = RawGrpcClient(ports.grpc_inference, server.keys()["inference"])
    try:
        errors: list[int] = []
        headers = {**server.headers(), "Content-Type": "application/json"}
        calls = {"HTTP": http_caller(server.inference_url, args.variant, body, headers, errors),
                 "gRPC": grpc_caller(client, args.variant, body, errors)}
        groups = {"client": [os.getpid()], "frontend": frontend_pids(server.pid()),
                  "workers": worker_pids(server.management_url, server.headers("management"), args.variant)}
        report: dict[str, object] = {"variant": args.variant, "clients": args.clients, "busy": args.busy}
        with busy_core(4 * args.seconds + 30) if args.busy else nullcontext() as burner:
            neighbour = {"neighbour": [burner.pid]} if burner is not None else {}
            for transport, call in calls.items():
                report[transport] = measure(call, args.clients, args.seconds, groups | neighbour)
            report["in-process fastest"] = measure(in_process, 1, args.seconds, {"in-process": [os.getpid()]} | neighbour)
        report["errors"] = len(errors)
    finally:
        client.close()
        server.stop()
    print(json.dumps(report, indent=2))
    return 0 if not report["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
