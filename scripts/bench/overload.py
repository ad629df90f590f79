"""Overload: far more concurrent clients than one TorchServe can serve, then recovery.

    python -m scripts.bench.overload --clients 320 --seconds 20      # 10x the 32-client soak load

Starts asl100 on its own TorchServe (config.properties: job_queue_size, default_response_timeout),
measures the latency of one client alone and of `--baseline-clients`, then sends from `--clients`
threads (two HTTP to one gRPC Predictions, no retries) for `--seconds`. Requests beyond a model's
job queue must be refused at once (HTTP 503; over gRPC TorchServe 0.12 answers INTERNAL "Model ... has
no worker to serve inference request", see scripts/bench/mixed.py), accepted ones answered correctly,
nothing may hang or be lost. Afterwards one client probes every 0.2 s: recovery is the time from the
end of the burst to the first of 5 probes in a row within 1.5x the lone client's p50; then the
baseline load runs again. Exits 1 when a request is lost, the workers changed or it did not recover.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scripts.bench.loadgen import LoadReport, percentile, run_calls, worker_pids
from scripts.bench.mixed import Route, grpc_valid, http_valid
from scripts.client.core import load_input
from scripts.serve.torchserve_ctl import DEFAULT_STORE, Ports, TorchServe
from scripts.wlasl_data import reference_clip

GLOSS = "language"
PROBES_IN_A_ROW = 5


def latency_ms(report: LoadReport, key: str) -> dict[str, float]:
    """p50 / p99 / max latency (ms) of the calls whose outcome was `key`."""
    values = [latency for _, latency, outcome in report.timeline if outcome == key]
    return {"count": len(values), "p50_ms": round(1000 * percentile(values, 50), 1) if values else 0.0,
            "p99_ms": round(1000 * percentile(values, 99), 1) if values else 0.0,
            "max_ms": round(1000 * max(values), 1) if values else 0.0}


def recovery(server: TorchServe, model: str, body: bytes, normal_s: float, limit_s: float = 60.0) -> dict[str, Any]:
    """Seconds from now until PROBES_IN_A_ROW single requests in a row answer within `normal_s`."""
    probe = http_valid(Route.torchserve(server, model), body, GLOSS, timeout=30.0)
    start, in_a_row, probes, began_at = time.perf_counter(), 0, [], []
    while time.perf_counter() - start < limit_s:
        began = time.perf_counter()
        outcome, _ = probe()
        latency = time.perf_counter() - began
        probes.append(round(1000 * latency, 1))
        began_at.append(began - start)
        in_a_row = in_a_row + 1 if outcome == "correct" and latency <= normal_s else 0
        if in_a_row == PROBES_IN_A_ROW:
            return {"recovered_after_s": round(began_at[-PROBES_IN_A_ROW], 2), "probes_ms": probes}
        time.sleep(max(0.0, 0.2 - latency))
    return {"recovered_after_s": None, "probes_ms": probes}


def overload(server: TorchServe, model: str, clients: int, seconds: float, baseline_clients: int) -> dict[str, Any]:
    """The baseline, the burst and the recovery, as one report."""
    body = json.dumps(load_input(reference_clip())).encode("utf-8")
    management = server.headers("management")
    valid = http_valid(Route.torchserve(server, model), body, GLOSS)
    run_calls([valid], 2, seconds=60, max_requests=20)  # warm-up
    alone = run_calls([valid], 1, seconds=5)
    baseline = run_calls([valid], baseline_clients, seconds=10)
    pids = worker_pids(server.management_url, management, model)
    calls = [http_valid(Route.torchserve(server, model), body, GLOSS, overload=True)] * 2 + \
        [grpc_valid(server, model, body, GLOSS, overload=True)]
    burst = run_calls(calls, clients, seconds)
    normal_s = 1.5 * percentile(alone.latencies, 50)
    recovered = recovery(server, model, body, normal_s)
    after = run_calls([valid], baseline_clients, seconds=10)
    result = {
        "model": model, "clients": clients, "seconds": seconds,
        "alone_p50_ms": round(1000 * percentile(alone.latencies, 50), 1),
        "baseline": {"clients": baseline_clients, **baseline.summary()},
        "burst": {**burst.summary(), "latency_by_outcome": {key: latency_ms(burst, key) for key in burst.statuses}},
        "recovery": {"normal_ms": round(1000 * normal_s, 1), **recovered},
        "after": {"clients": baseline_clients, **after.summary()},
        "worker_pids_same": worker_pids(server.management_url, management, model) == pids,
    }
    result["targets_met"] = (burst.lost == 0 and baseline.lost == 0 and after.lost == 0 and result["worker_pids_same"]
                             and recovered["recovered_after_s"] is not None)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="asl100")
    parser.add_argument("--clients", type=int, default=320, help="burst clients (default 320: 10x the soak's 32)")
    parser.add_argument("--seconds", type=float, default=20.0, help="burst duration (default 20)")
    parser.add_argument("--baseline-clients", type=int, default=8)
    parser.add_argument("--model-store", type=Path, default=DEFAULT_STORE)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config.properties setting, e.g. job_queue_size=100")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="overload-") as scratch:
        server = TorchServe(Path(scratch) / "run", args.model_store, ports=Ports.free(),
                            overrides=dict(item.split("=", 1) for item in args.set))
        server.start([args.model])
        try:
            result = {"settings": {key: server.properties.get(key) for key in
                                   ("job_queue_size", "default_response_timeout", "netty_client_threads")},
                      **overload(server, args.model, args.clients, args.seconds, args.baseline_clients)}
        finally:
            server.stop()
    print(json.dumps(result, indent=2))
    return 0 if result["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
