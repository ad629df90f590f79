"""Soak a live TorchServe: many concurrent clients for a bounded time, mixing valid and hostile
requests over HTTP and gRPC Predictions (scripts/bench/mixed.py: valid HTTP, valid gRPC, valid HTTP,
valid gRPC, hostile HTTP, hostile gRPC, in turn), with --gateway also valid and hostile requests
through the browser gateway (scripts/gateway), every answer checked.

Reports requests, correct answers, expected refusals, errors (wrong or lost), retries, p50/p99, the
valid calls' p50 in the first and the last tenth of the run, the workers', the frontend's (and the
gateway's) RSS at start and end, and the log bytes TorchServe wrote per 1,000 requests. Exits 1 when
a target is missed: zero errors, RSS growth under 5 % for each process, the last tenth's p50 within
20 % of the first's, the same worker PIDs.

    python -m scripts.bench.soak                                   # 600 s, 32 clients, against `make serve`
    python -m scripts.bench.soak --gateway                         # the same, plus the `make web` gateway
    python -m scripts.bench.soak --start --gateway --seconds 60    # its own TorchServe and gateway, free ports
    python -m scripts.bench.soak --start --log-config torchserve   # TorchServe's own logging
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import requests

from scripts.bench.loadgen import LoadReport, frontend_pids, percentile, rss_mib, run_calls, worker_pids
from scripts.bench.mixed import Route, grpc_hostile, grpc_valid, http_hostile, http_valid
from scripts.client.core import BASE_CONFIG, DEFAULT_RUN_DIR, load_input
from scripts.gateway import cli as gateway_cli
from scripts.serve.torchserve_ctl import DEFAULT_STORE, LOG_CONFIG, Ports, TorchServe
from scripts.wlasl_data import REFERENCE_CLIP, reference_clip

GLOSS = "language"
MAX_RSS_GROWTH = 0.05
MAX_LATENCY_DRIFT = 0.20


def log_bytes(server: TorchServe) -> dict[str, int]:
    """Bytes TorchServe has written so far, per log file and its own output."""
    files = [*(server.run_dir / "logs").glob("*"), server.log_file]
    return {path.name: path.stat().st_size for path in files if path.is_file()}


def per_thousand(start: dict[str, int], end: dict[str, int], requests: int) -> dict[str, int]:
    """Log bytes written between two log_bytes() readings, per 1,000 requests, per file and in total."""
    grown = {name: size - start.get(name, 0) for name, size in end.items()}
    grown["total"] = sum(grown.values())
    return {name: round(1000 * size / max(requests, 1)) for name, size in sorted(grown.items())}


def latency_drift(report: LoadReport, seconds: float) -> dict[str, float]:
    """p50 (ms) of the correct answers in the first and the last tenth of the run, and their ratio."""
    tenth = seconds / 10
    first = [latency for end, latency, key in report.timeline if key == "correct" and end <= tenth]
    last = [latency for end, latency, key in report.timeline if key == "correct" and end >= seconds - tenth]
    start, end = 1000 * percentile(first, 50), 1000 * percentile(last, 50)
    return {"p50_first_tenth_ms": round(start, 1), "p50_last_tenth_ms": round(end, 1),
            "ratio": round(end / start, 3) if first and last else float("nan")}


def growth(start: float, end: float) -> float:
    return (end - start) / start if start else 0.0


def running_gateway() -> gateway_cli.Running:
    """The gateway `make web` started (its PID file, GATEWAY_PORT or 8000)."""
    pid = gateway_cli.running_pid(gateway_cli.PID_FILE)
    if pid is None:
        raise RuntimeError(f"no gateway runs (no live PID in {gateway_cli.PID_FILE}): start it with `make web`")
    return gateway_cli.Running(f"http://{gateway_cli.DEFAULT_HOST}:{gateway_cli.default_port()}", pid, gateway_cli.LOG_FILE)


def soak(server: TorchServe, model: str, clients: int, seconds: float, max_requests: int | None,
         clip: Path, warmup: float = 60.0, gateway: gateway_cli.Running | None = None) -> dict[str, Any]:
    """Warm up for `warmup` seconds at full load (the JVM heap and the workers' memory settle), then
    load `model` with `clients` clients and the mixed calls (and the gateway's); the report as a dict."""
    body = json.dumps(load_input(clip)).encode("utf-8")
    management, route = server.headers("management"), Route.torchserve(server, model)
    valid_http, valid_grpc = http_valid(route, body, GLOSS), grpc_valid(server, model, body, GLOSS)
    calls = [valid_http, valid_grpc, valid_http, valid_grpc, http_hostile(route), grpc_hostile(server, model)]
    if gateway is not None:
        through = Route.gateway(gateway.url, model)
        calls += [http_valid(through, body, GLOSS), http_hostile(through)]
    run_calls(calls, clients=clients, seconds=warmup)
    pids = worker_pids(server.management_url, management, model)
    processes = {"worker": pids, "frontend": frontend_pids(server.pid()), **({"gateway": [gateway.pid]} if gateway else {})}
    rss_start, bytes_start = {name: rss_mib(group) for name, group in processes.items()}, log_bytes(server)
    report = run_calls(calls, clients=clients, seconds=seconds, max_requests=max_requests)
    time.sleep(1.0)  # let the last log lines reach the disk
    processes["worker"] = end_pids = worker_pids(server.management_url, management, model)
    rss_end = {name: rss_mib(group) for name, group in processes.items()}
    drift = latency_drift(report, report.seconds)
    result: dict[str, Any] = {"model": model, "clients": clients, "gateway": gateway is not None, **report.summary(),
                              "latency_drift": drift, "worker_pids_start": pids, "worker_pids_end": end_pids}
    for name in processes:  # worker (all of the model's workers), frontend (Java), gateway
        result.update({f"{name}_rss_mib_start": round(rss_start[name], 1), f"{name}_rss_mib_end": round(rss_end[name], 1),
                       f"{name}_rss_growth_pct": round(100 * growth(rss_start[name], rss_end[name]), 2)})
    result["log_bytes_per_1000_requests"] = per_thousand(bytes_start, log_bytes(server), report.requests)
    result["targets_met"] = (report.lost == 0 and report.correct + report.refused == report.requests
                             and all(growth(rss_start[name], rss_end[name]) < MAX_RSS_GROWTH for name in processes)
                             and drift["ratio"] <= 1 + MAX_LATENCY_DRIFT and pids == end_pids)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="asl100")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=600.0, help="load duration (default 600)")
    parser.add_argument("--max-requests", type=int, default=None, help="stop after this many requests")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds at full load before measuring (default 60)")
    parser.add_argument("--clip", type=Path, default=None, help=f"OpenPose frame folder (default: WLASL clip {REFERENCE_CLIP})")
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR, help="a running instance (make serve)")
    parser.add_argument("--start", action="store_true", help="start a TorchServe of its own on free ports")
    parser.add_argument("--model-store", type=Path, default=DEFAULT_STORE)
    parser.add_argument("--log-config", choices=("project", "torchserve"), default="project",
                        help="with --start: configs/log4j2.xml or TorchServe's built-in logging")
    parser.add_argument("--gateway", action="store_true",
                        help="also load the browser gateway: its own with --start, else the one `make web` runs")
    args = parser.parse_args(argv)
    clip = args.clip or reference_clip()
    with tempfile.TemporaryDirectory(prefix="soak-") as scratch, ExitStack() as running:
        if args.start:
            server = TorchServe(Path(scratch) / "run", args.model_store, ports=Ports.free(),
                                log_config=LOG_CONFIG if args.log_config == "project" else None)
            server.start([args.model])
            running.callback(server.stop)
        else:
            effective = args.run_dir / "config.properties"  # the ports the running instance was given
            server = TorchServe(args.run_dir, args.model_store, effective if effective.is_file() else BASE_CONFIG)
        try:
            gateway = None
            if args.gateway and args.start:
                config = server.run_dir / "config.properties"
                gateway = running.enter_context(gateway_cli.background(config, server.key_file, Path(scratch)))
            elif args.gateway:
                gateway = running_gateway()
            result = soak(server, args.model, args.clients, args.seconds, args.max_requests, clip, args.warmup, gateway)
        except (requests.RequestException, RuntimeError) as exc:
            print(f"soak failed: {exc}", file=sys.stderr)
            return 1
    print(json.dumps(result, indent=2))
    return 0 if result["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
