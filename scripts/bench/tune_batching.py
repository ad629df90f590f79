"""Sweep TorchServe's batch size, max batch delay and worker count for asl100 and asl2000 (the
measurements behind configs/aslN.yaml; docs/performance.md records a run). Reuses the benchmark's
archives (run `make bench` first) and re-registers each model with the settings under test.

    python -m scripts.bench.tune_batching [--seconds 4]
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import requests

from scripts.bench.benchmark import VARIANTS
from scripts.bench.cells import WORK, Cell, http_caller
from scripts.client.core import load_input
from scripts.serve.torchserve_ctl import Ports, TorchServe
from scripts.wlasl_data import reference_clip

SETTINGS = ((1, 0, 1), (8, 5, 1), (8, 0, 1), (8, 0, 2), (16, 0, 2), (16, 5, 2), (32, 0, 2))  # batch, delay ms, workers


def register(server: TorchServe, variant: str, batch: int, delay: int, workers: int) -> None:
    """Replace the model with the same archive under new batching settings; returns when READY."""
    headers = server.headers("management")
    requests.delete(f"{server.management_url}/models/{variant}", headers=headers, timeout=60)
    response = requests.post(f"{server.management_url}/models", headers=headers, timeout=120,
                             params={"url": f"{variant}.mar", "batch_size": batch, "max_batch_delay": delay,
                                     "initial_workers": workers, "synchronous": "true"})
    response.raise_for_status()
    server.wait_ready([variant], timeout=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args(argv)
    body = json.dumps(load_input(reference_clip())).encode()
    server = TorchServe(WORK / "run-tune", WORK / "store", ports=Ports.free())
    server.start([VARIANTS[0]], timeout=180)
    print("| model | batch | delay ms | workers | clients | samples/s | p50 ms | p99 ms |\n|---|---|---|---|---|---|---|---|")
    try:
        headers = {**server.headers(), "Content-Type": "application/json"}
        for variant in VARIANTS:
            for batch, delay, workers in SETTINGS:
                register(server, variant, batch, delay, workers)
                for clients in (1, 16):
                    errors: list[int] = []
                    cell = Cell("served HTTP", variant, clients,
                                http_caller(server.inference_url, variant, body, headers, errors), clients, errors=errors)
                    cell.run(args.seconds, args.warmup)
                    r = cell.result()
                    print(f"| {variant} | {batch} | {delay} | {workers} | {clients} | {r.samples_per_s:.1f} | "
                          f"{r.p50_ms:.1f} | {r.p99_ms:.1f} |", flush=True)
            requests.delete(f"{server.management_url}/models/{variant}", headers=server.headers("management"), timeout=60)
            time.sleep(1)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
