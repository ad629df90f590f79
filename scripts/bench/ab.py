"""A/B of per-model settings, side by side in one TorchServe: copies of one archive that differ only in
model-config.yaml (frontend keys such as batchSize, or handler keys such as handler.intra_op_spinning),
measured in interleaved rounds at several client counts, idle and with one core busy.

    python -m scripts.bench.ab --variant asl2000 --arm spin --arm nospin handler.intra_op_spinning=false
    python -m scripts.bench.ab --variant asl2000 --arm b8 --arm b16 batchSize=16 --clients 16

The first arm is the reference: each row gives its throughput ratio to the reference arm in the same
round structure. Archives come from build/bench/store (make bench builds them) unless --store is given.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from scripts.archive.derive import derive_archive
from scripts.bench.cells import BUSY, IDLE, WORK, Cell, client_cells, http_caller
from scripts.client.core import load_input
from scripts.serve.torchserve_ctl import Ports, TorchServe
from scripts.wlasl_data import reference_clip


def parse_value(text: str) -> object:
    """A setting's value as YAML reads it (numbers, booleans, strings)."""
    return yaml.safe_load(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="asl2000")
    parser.add_argument("--arm", nargs="+", action="append", required=True, metavar=("NAME", "KEY=VALUE"),
                        help="an arm: its name, then the settings it changes (none: the archive as built)")
    parser.add_argument("--store", type=Path, default=WORK / "store")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--loads", nargs="+", choices=(IDLE, "busy"), default=[IDLE, "busy"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    args = parser.parse_args(argv)
    source = args.store / f"{args.variant}.mar"
    if not source.is_file():
        print(f"error: {source} not found: run make bench once (it builds build/bench/store) or pass --store",
              file=sys.stderr)
        return 1
    store = WORK / "ab-store"
    store.mkdir(parents=True, exist_ok=True)
    for old in store.glob("*.mar"):
        old.unlink()
    arms = {}
    for name, *pairs in args.arm:
        settings = {key: parse_value(value) for key, _, value in (pair.partition("=") for pair in pairs)}
        arms[f"{args.variant}_{name}"] = (name, settings, derive_archive(source, store, f"{args.variant}_{name}", settings))
    body = json.dumps(load_input(reference_clip())).encode()
    server = TorchServe(WORK / "run-ab", store, ports=Ports.free())
    server.start(list(arms), timeout=300)
    try:
        headers = {**server.headers(), "Content-Type": "application/json"}
        cells: list[Cell] = []
        for load in (IDLE if load == IDLE else BUSY for load in args.loads):
            for model in arms:
                cells += client_cells(model, args.variant, lambda errors, model=model: http_caller(
                    server.inference_url, model, body, headers, errors), lambda: None, None, tuple(args.clients), load)
        for round_ in range(args.rounds):
            for cell in cells[round_ % len(cells):] + cells[:round_ % len(cells)]:
                cell.run(args.seconds, args.warmup)
    finally:
        server.stop()
    results = [cell.result() for cell in cells]
    reference = {(r.clients, r.load): r.samples_per_s for r in results if r.path == next(iter(arms))}
    print(f"{args.variant}, {args.rounds} interleaved rounds of {args.seconds:g} s per cell, served over HTTP")
    print("| arm | settings | clients | load | samples/s | vs first arm | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in sorted(results, key=lambda r: (r.load != IDLE, r.clients, list(arms).index(r.path))):
        name, settings, _ = arms[r.path]
        changed = ", ".join(f"{k}={v}" for k, v in settings.items()) or "as built"
        print(f"| {name} | {changed} | {r.clients} | {r.load} | {r.samples_per_s:.1f} | "
              f"{r.samples_per_s / reference[(r.clients, r.load)]:.2f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
