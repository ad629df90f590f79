"""Soak a live TorchServe: many concurrent clients for a bounded time, mixing valid and hostile
requests over HTTP and gRPC Predictions (scripts/bench/mixed.py: valid HTTP, valid gRPC, valid HTTP,
valid gRPC, hostile HTTP, hostile gRPC, in turn), every answer checked.

Reports requests, correct answers, expected refusals, errors (wrong or lost), retries, p50/p99, the
valid calls' p50 in the first and the last tenth of the run, the workers' and the frontend's RSS at
start and end, and the log bytes TorchServe wrote per 1,000 requests. Exits 1 when a target is
missed: zero errors, worker and frontend RSS growth under 5 %, the last tenth's p50 within 20 % of
the first's, the same worker PIDs.

    python -m scripts.bench.soak                                   # 600 s, 32 clients, against `make serve`
    python -m scripts.bench.soak --start --seconds 60 --clients 8  # its own TorchServe on free ports
    python -m scripts.bench.soak --start --log-config torchserve   # the same with TorchServe's own logging
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import requests

from scripts.bench.loadgen import LoadReport, percentile, rss_mib, run_calls, worker_pids
from scripts.bench.mixed import grpc_hostile, grpc_valid, http_hostile, http_valid
from scripts.client.core import BASE_CONFIG, DEFAULT_RUN_DIR, load_input
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


def frontend_pids(server: TorchServe) -> list[int]:
    """The instance's Java frontend (a child of the torchserve launcher whose process group is server.pid())."""
    pid = server.pid()
    if pid is None:
        return []
    family = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    return [process.pid for process in family if "java" in process.name()]


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


def soak(server: TorchServe, model: str, clients: int, seconds: float, max_requests: int | None,
         clip: Path, warmup: float = 60.0) -> dict[str, Any]:
    """Warm up for `warmup` seconds at full load (the JVM heap and the workers' memory settle), then
    load `model` with `clients` clients and the mixed calls; the report as a dict."""
    body = json.dumps(load_input(clip)).encode("utf-8")
    management = server.headers("management")
    valid_http, valid_grpc = http_valid(server, model, body, GLOSS), grpc_valid(server, model, body, GLOSS)
    calls = [valid_http, valid_grpc, valid_http, valid_grpc, http_hostile(server, model), grpc_hostile(server, model)]
    run_calls(calls, clients=clients, seconds=warmup)
    pids, frontend = worker_pids(server.management_url, management, model), frontend_pids(server)
    rss_start, frontend_start, bytes_start = rss_mib(pids), rss_mib(frontend), log_bytes(server)
    report = run_calls(calls, clients=clients, seconds=seconds, max_requests=max_requests)
    time.sleep(1.0)  # let the last log lines reach the disk
    end_pids = worker_pids(server.management_url, management, model)
    rss_end, frontend_end = rss_mib(end_pids), rss_mib(frontend)
    drift = latency_drift(report, report.seconds)
    result = {"model": model, "clients": clients, **report.summary(), "latency_drift": drift,
              "worker_pids_start": pids, "worker_pids_end": end_pids,
              "worker_rss_mib_start": round(rss_start, 1), "worker_rss_mib_end": round(rss_end, 1),
              "worker_rss_growth_pct": round(100 * growth(rss_start, rss_end), 2),
              "frontend_rss_mib_start": round(frontend_start, 1), "frontend_rss_mib_end": round(frontend_end, 1),
              "frontend_rss_growth_pct": round(100 * growth(frontend_start, frontend_end), 2),
              "log_bytes_per_1000_requests": per_thousand(bytes_start, log_bytes(server), report.requests)}
    result["targets_met"] = (report.lost == 0 and report.correct + report.refused == report.requests
                             and growth(rss_start, rss_end) < MAX_RSS_GROWTH
                             and growth(frontend_start, frontend_end) < MAX_RSS_GROWTH
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
    args = parser.parse_args(argv)
    clip = args.clip or reference_clip()
    with tempfile.TemporaryDirectory(prefix="soak-") as scratch:
        if args.start:
            server = TorchServe(Path(scratch) / "run", args.model_store, ports=Ports.free(),
                                log_config=LOG_CONFIG if args.log_config == "project" else None)
            server.start([args.model])
        else:
            effective = args.run_dir / "config.properties"  # the ports the running instance was given
            server = TorchServe(args.run_dir, args.model_store, effective if effective.is_file() else BASE_CONFIG)
        try:
            result = soak(server, args.model, args.clients, args.seconds, args.max_requests, clip, args.warmup)
        except requests.RequestException as exc:
            print(f"soak failed: {exc}", file=sys.stderr)
            return 1
        finally:
            if args.start:
                server.stop()
    print(json.dumps(result, indent=2))
    return 0 if result["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
