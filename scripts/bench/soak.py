"""Soak a live TorchServe: many concurrent clients for a bounded time, every answer checked.

Reports requests, errors, retries, p50/p99 latency, the model workers' RSS at start and end, and
(with --start) the log bytes TorchServe wrote per 1,000 requests. Exits 1 when a target is missed:
zero errors, worker RSS growth under 5 %.

    python -m scripts.bench.soak                                   # 180 s, 32 clients, against `make serve`
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

import requests

from scripts.bench.loadgen import rss_mib, run_load, worker_pids
from scripts.client.core import BASE_CONFIG, DEFAULT_RUN_DIR, load_input
from scripts.serve.torchserve_ctl import DEFAULT_STORE, LOG_CONFIG, Ports, TorchServe
from scripts.wlasl_data import REFERENCE_CLIP, reference_clip

GLOSS = "language"
MAX_RSS_GROWTH = 0.05


def log_bytes(server: TorchServe) -> dict[str, int]:
    """Bytes TorchServe has written so far, per log file and its own output."""
    files = [*(server.run_dir / "logs").glob("*"), server.log_file]
    return {path.name: path.stat().st_size for path in files if path.is_file()}


def per_thousand(start: dict[str, int], end: dict[str, int], requests: int) -> dict[str, int]:
    """Log bytes written between two log_bytes() readings, per 1,000 requests, per file and in total."""
    grown = {name: size - start.get(name, 0) for name, size in end.items()}
    grown["total"] = sum(grown.values())
    return {name: round(1000 * size / max(requests, 1)) for name, size in sorted(grown.items())}


def soak(server: TorchServe, model: str, clients: int, seconds: float, max_requests: int | None,
         clip: Path, warmup: int = 20) -> dict[str, Any]:
    """Warm up, then load `model` with `clients` clients; the report as a dict."""
    url = f"{server.inference_url}/predictions/{model}"
    body = json.dumps(load_input(clip)).encode("utf-8")
    headers, management = server.headers(), server.headers("management")

    def check(response: requests.Response) -> bool:
        return response.json()["top_k"][0]["gloss"] == GLOSS

    run_load(url, body, headers, check, clients=2, seconds=60, max_requests=warmup)
    pids = worker_pids(server.management_url, management, model)
    rss_start, bytes_start = rss_mib(pids), log_bytes(server)
    report = run_load(url, body, headers, check, clients=clients, seconds=seconds, max_requests=max_requests)
    time.sleep(1.0)  # let the last log lines reach the disk
    end_pids = worker_pids(server.management_url, management, model)
    rss_end = rss_mib(end_pids)
    growth = (rss_end - rss_start) / rss_start if rss_start else 0.0
    result = {"model": model, "clients": clients, **report.summary(),
              "worker_pids_start": pids, "worker_pids_end": end_pids,
              "worker_rss_mib_start": round(rss_start, 1), "worker_rss_mib_end": round(rss_end, 1),
              "worker_rss_growth_pct": round(100 * growth, 2),
              "log_bytes_per_1000_requests": per_thousand(bytes_start, log_bytes(server), report.requests)}
    result["targets_met"] = report.lost == 0 and growth < MAX_RSS_GROWTH and pids == end_pids
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="asl100")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=180.0, help="load duration (default 180)")
    parser.add_argument("--max-requests", type=int, default=None, help="stop after this many requests")
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
            result = soak(server, args.model, args.clients, args.seconds, args.max_requests, clip)
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
