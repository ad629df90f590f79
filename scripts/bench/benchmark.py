"""Benchmark harness: the fastest in-process path (the archive's ONNX session at its best batch size, with
parsing and windowing), the handler in-process (eager and ONNX Runtime), TorchServe over HTTP and gRPC,
TorchServe's no-op floor and a minimal eager HTTP server, at 1 and 16 clients, for asl100 (real weights)
and asl2000 (generated, same shapes); the key cells again with one core kept busy (contention).
Writes docs/benchmarks.md. Every request is the real clip 32162 as OpenPose JSON (13 frames -> 4
windows); a sample is one request. Bounded: --rounds interleaved rounds of --seconds per cell, so that
the load of a shared machine spreads over all paths alike.

    python -m scripts.bench.benchmark [--rounds 5] [--seconds 3] [--output docs/benchmarks.md]   (or: make bench)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

import psutil
import requests
import torch
import yaml

from handlers.labels import variant_classes
from scripts.archive import build_archives
from scripts.archive.generated import mixed_data_tree
from scripts.client.core import load_input
from scripts.bench.cells import (BUSY, CLIENTS, FASTEST, IDLE, JSON_PARSE, WORK, Cell, RawGrpcClient, Result,
                                 client_cells, fastest_cells, grpc_caller, http_caller, in_process_cells,
                                 json_parse_cell)
from scripts.bench.loadgen import rss_mib, worker_pids
from scripts.serve.torchserve_ctl import Ports, TorchServe
from scripts.wlasl_data import REPO, data_root, reference_clip

VARIANTS = ("asl100", "asl2000")
SERVED = ("asl100", "asl300", "asl1000", "asl2000")
FLOOR = "tgcn_floor"  # the no-op model (scripts/bench/floor_handler.py)
FLOOR_HTTP, FLOOR_GRPC = "TorchServe floor HTTP", "TorchServe floor gRPC"
HANDLER_PATH = "in-process handler (ONNX Runtime)"
# (path, model, clients) measured again with one core busy: the targets' cells.
CONTENDED = {("served HTTP", "asl2000", 16), ("served gRPC", "asl2000", 16), ("served HTTP", "asl100", 1),
             (FLOOR_HTTP, "asl100", 1)}


def prepare_data(real: Path) -> Path:
    """A data tree: real json, clips and asl100/asl300 weights; generated asl1000/asl2000 weights."""
    shutil.rmtree(WORK / "data", ignore_errors=True)
    return mixed_data_tree(real, WORK / "data", SERVED)


def build_store(data: Path, name: str, runtime: str | None) -> Path:
    """Archives for SERVED into WORK/<name> (runtime None: as configured in configs/aslN.yaml)."""
    store = WORK / name
    extra = ["--runtime", runtime] if runtime else []
    code = build_archives.main(["--data", str(data), "--export-path", str(store), "--build-dir", str(WORK / "build"),
                                "--variants", *SERVED, "--require", *extra])
    if code != 0:
        raise SystemExit(f"archive build for {name} failed")
    return store


def worker_rss_mb(server: TorchServe, model: str) -> float:
    """Resident memory of the model's worker processes (MB, summed over its workers)."""
    return rss_mib(worker_pids(server.management_url, server.headers("management"), model))


def floor_archive(store: Path) -> str:
    """FLOOR.mar in `store`: scripts/bench/floor_handler.py with asl100's TorchServe settings (batching, workers)."""
    settings = yaml.safe_load((REPO / "configs" / "asl100.yaml").read_text())
    settings.pop("handler")
    manifest = {"runtime": "python", "archiverVersion": "0.12.0",
                "model": {"modelName": FLOOR, "modelVersion": "1.0", "handler": "floor_handler.py",
                          "configFile": "model-config.yaml"}}
    with zipfile.ZipFile(store / f"{FLOOR}.mar", "w") as archive:
        archive.writestr("MAR-INF/MANIFEST.json", json.dumps(manifest))
        archive.writestr("model-config.yaml", yaml.safe_dump(settings))
        archive.write(REPO / "scripts" / "bench" / "floor_handler.py", "floor_handler.py")
    return f"{FLOOR}.mar"


def served_cells(stack: ExitStack, store: Path, body: bytes) -> list[Cell]:
    """TorchServe with all archives (startup to READY measured), and its HTTP and gRPC cells for VARIANTS;
    then the no-op floor model, registered after the startup measurement, at one client."""
    ports = Ports.free()
    server = TorchServe(WORK / "run", store, ports=ports)
    began = time.perf_counter()
    stack.callback(server.stop)
    server.start(list(SERVED), timeout=180)
    startup = time.perf_counter() - began
    headers = {**server.headers(), "Content-Type": "application/json"}
    client = RawGrpcClient(ports.grpc_inference, server.keys()["inference"])
    stack.callback(client.close)
    response = requests.post(f"{server.management_url}/models", headers=server.headers("management"), timeout=120,
                             params={"url": floor_archive(store), "synchronous": "true"})
    if response.status_code != 200:
        raise SystemExit(f"registering the floor model failed ({response.status_code}): {response.text}")
    cells = []
    for load in (IDLE, BUSY):
        def wanted(path: str, variant: str, counts: tuple[int, ...] = CLIENTS) -> tuple[int, ...]:
            return tuple(n for n in counts if load == IDLE or (path, variant, n) in CONTENDED)

        for variant in VARIANTS:
            rss = lambda variant=variant: worker_rss_mb(server, variant)  # noqa: E731
            cells += client_cells("served HTTP", variant, lambda errors, variant=variant: http_caller(
                server.inference_url, variant, body, headers, errors), rss, startup,
                wanted("served HTTP", variant), load)
            cells += client_cells("served gRPC", variant, lambda errors, variant=variant: grpc_caller(
                client, variant, body, errors), rss, startup, wanted("served gRPC", variant), load)
        cells += client_cells(FLOOR_HTTP, "asl100", lambda errors: http_caller(
            server.inference_url, FLOOR, body, headers, errors), lambda: None, None, wanted(FLOOR_HTTP, "asl100", (1,)),
            load)
        cells += client_cells(FLOOR_GRPC, "asl100", lambda errors: grpc_caller(client, FLOOR, body, errors),
                              lambda: None, None, wanted(FLOOR_GRPC, "asl100", (1,)), load)
    return cells


def minimal_cells(stack: ExitStack, data: Path, variant: str, body: bytes) -> list[Cell]:
    """(e) scripts/bench/minimal_server.py in its own process (startup to first answer measured), and its cells."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "scripts.bench.minimal_server", str(data / "checkpoints" / variant / "ckpt.pth"),
               str(REPO / "configs" / f"{variant}.ini"), str(variant_classes(variant)), "--port", str(port)]
    began = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stack.callback(process.wait, timeout=30)
    stack.callback(process.terminate)
    url = f"http://127.0.0.1:{port}"
    startup = wait_answer(url, body, began, process)
    return client_cells("minimal eager HTTP", variant, lambda errors: http_caller(
        url, variant, body, {"Content-Type": "application/json"}, errors),
        lambda: psutil.Process(process.pid).memory_info().rss / 2**20, startup)


def wait_answer(url: str, body: bytes, began: float, process: subprocess.Popen, timeout: float = 120) -> float:
    """Seconds from `began` until `url` answers a prediction."""
    while time.perf_counter() - began < timeout:
        if process.poll() is not None:
            raise SystemExit(f"minimal server exited with {process.returncode}")
        try:
            if requests.post(f"{url}/predictions/x", data=body, timeout=30).status_code == 200:
                return time.perf_counter() - began
        except requests.ConnectionError:
            time.sleep(0.05)
    raise SystemExit(f"minimal server did not answer within {timeout} s")


def machine() -> str:
    """One line describing this machine and the load on it."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (f"{cpu}, {psutil.cpu_count()} logical CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}, torch {torch.__version__}; "
            f"load average at the start {load}")


def target(model: str, what: str, wanted: str, value: float, text: str, met: bool) -> str:
    """One row of the targets table."""
    verdict = "-" if wanted.startswith("(") else "met" if met else "MISSED"
    return f"| {model} | {what} | {wanted} | {text.format(value)} | {verdict} |"


def ratio(value: float, base: float) -> float:
    """value / base; NaN (a missed target) when the base cell measured nothing."""
    return value / base if base else math.nan


def targets(results: list[Result]) -> list[str]:
    """The issue's targets, as measured in this run."""
    cell = {(r.path, r.variant, r.clients, r.load): r for r in results}
    rows = []
    for path in ("served HTTP", "served gRPC"):
        for load, wanted in ((IDLE, 0.90), (BUSY, 0.80)):
            share = ratio(cell[(path, "asl2000", 16, load)].samples_per_s, cell[(FASTEST, "asl2000", 16, load)].samples_per_s)
            rows.append(target("asl2000", f"{path} / fastest in-process, 16 clients, {load}", f">= {wanted:.0%}",
                               share, "{:.0%}", share >= wanted))
    fastest_lone = cell[(FASTEST, "asl100", 1, IDLE)].p50_ms
    for path, floor in (("served HTTP", FLOOR_HTTP), ("served gRPC", FLOOR_GRPC)):
        added = cell[(path, "asl100", 1, IDLE)].p50_ms - cell[(floor, "asl100", 1, IDLE)].p50_ms - fastest_lone
        rows.append(target("asl100", f"{path} p50 - (no-op floor p50 + fastest in-process p50), 1 client",
                           "<= 1.5 ms", added, "{:.2f} ms", added <= 1.5))
    for variant in VARIANTS:
        for path in ("served HTTP", "served gRPC"):
            many = cell[(path, variant, 16, IDLE)]
            spread = ratio(many.p99_ms, many.p50_ms)
            rows.append(target(variant, f"{path} p99 / p50, 16 clients", "<= 2x", spread, "{:.2f}x", spread <= 2))
            handler = ratio(many.samples_per_s, cell[(HANDLER_PATH, variant, 16, IDLE)].samples_per_s)
            rows.append(target(variant, f"{path} / in-process handler path, 16 clients", "(information)", handler,
                               "{:.0%}", True))
            gain = ratio(many.samples_per_s, cell[("minimal eager HTTP", variant, 16, IDLE)].samples_per_s)
            rows.append(target(variant, f"{path} / minimal eager server, 16 clients", ">= 2x", gain, "{:.2f}x",
                               gain >= 2))
    errors = sum(r.errors for r in results)
    rows.append(target("all", "errors in all cells", "0", errors, "{:.0f}", errors == 0))
    startup = next(r.startup_s for r in results if r.path == "served HTTP")
    rows.append(target("all 4", "archives READY after start", "<= 15 s", startup, "{:.1f} s", startup <= 15))
    return rows


def write_report(results: list[Result], output: Path, header: str, args: argparse.Namespace, elapsed: float,
                 batches: str) -> None:
    def number(value: float | None, digits: int = 1) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    rows = [f"| {r.path} | {r.variant} | {r.clients} | {r.load} | {r.samples_per_s:.1f} | {r.p50_ms:.2f} | "
            f"{r.p99_ms:.2f} | {number(r.rss_mb, 0)} | {number(r.startup_s)} | {r.errors} |" for r in results]
    text = "\n".join([
        "# Benchmarks", "",
        "Written by `make bench` (`python -m scripts.bench.benchmark`); do not edit the tables by hand. How to read",
        "them, the tuning measurements and the profile of each miss: docs/performance.md.", "",
        f"- Run: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {args.rounds} interleaved rounds over all cells, "
        f"{args.seconds:g} s per cell and round after a {args.warmup:g} s warm-up, pooled; {elapsed:.0f} s in all.",
        f"- Machine: {header}; at the end {', '.join(f'{value:.1f}' for value in os.getloadavg())}.",
        "- Clients, servers and workers share the machine's CPUs. A load average above the CPU count means",
        "  other processes competed for them: then the numbers are noisy. Ratios come from this one run.",
        "- A sample is one request: the real clip 32162 as OpenPose JSON (13 frames -> 4 windows of 50).",
        "  asl100 has the released weights; asl2000 has generated random weights of the real shapes.",
        "- In-process fastest (the baseline): the archive's model.onnx in one ONNX Runtime session, 2 threads,",
        "  JSON parsing and windowing included; 1 client = 1 clip per call, 16 clients = the batch size that",
        "  served the most clips per second; intra-op spinning on or off, and the batch size, chosen per load",
        f"  by trying each for a second ({batches}). In-process handler: the handler's preprocess",
        "  -> inference -> postprocess, 2 intra-op threads, 16 clients = one batch of 16 requests per call",
        "  (latency per batch). Served: TorchServe with all four archives as configured in configs/aslN.yaml;",
        "  RSS sums the model's workers.",
        "- Load: `1 core busy` cells run while a bounded child process spins on one CPU (a neighbour).",
        "- TorchServe floor: scripts/bench/floor_handler.py (answers without decoding) served beside them with",
        "  asl100's batching settings. Its p50 is what TorchServe itself costs one request on this machine;",
        "  the targets table turns it into the lowest reachable served-minus-in-process gap (bound).",
        "", "| path | model | clients | load | samples/s | p50 ms | p99 ms | RSS MB | startup s | errors |",
        "|---|---|---|---|---|---|---|---|---|---|", *rows,
        "", "## Targets", "", "| model | target | wanted | measured | |", "|---|---|---|---|---|", *targets(results), ""])
    output.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per cell and round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds over all cells (interleaved, pooled)")
    parser.add_argument("--warmup", type=float, default=0.5, help="unmeasured seconds before each cell")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    header = machine()
    real = data_root()
    data = prepare_data(real)
    fast_store, eager_store = build_store(data, "store", None), build_store(data, "store-eager", "eager")
    body = json.dumps(load_input(reference_clip(real))).encode()
    with ExitStack() as stack:
        cells: list[Cell] = []
        best: dict[str, str] = {}
        for variant in VARIANTS:
            fastest, best[variant] = fastest_cells(fast_store / f"{variant}.mar", body, 2)
            cells += fastest
            cells += in_process_cells("in-process eager", eager_store / f"{variant}.mar", body, 2)
            cells += in_process_cells(HANDLER_PATH, fast_store / f"{variant}.mar", body, 2)
        cells += [json_parse_cell(body), *served_cells(stack, fast_store, body)]
        for variant in VARIANTS:
            cells += minimal_cells(stack, data, variant, body)
        for round_ in range(args.rounds):
            for cell in cells[round_ % len(cells):] + cells[:round_ % len(cells)]:
                cell.run(args.seconds, args.warmup)
                print(f"round {round_ + 1}/{args.rounds}: {cell.path} {cell.variant} x{cell.clients}: "
                      f"{len(cell.latencies)} calls so far", flush=True)
        results = [cell.result() for cell in cells]
    order = [FASTEST, HANDLER_PATH, "in-process eager", "served HTTP", "served gRPC", "minimal eager HTTP",
             JSON_PARSE, FLOOR_HTTP, FLOOR_GRPC]
    results.sort(key=lambda r: (VARIANTS.index(r.variant), order.index(r.path), r.clients, r.load != IDLE))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    batches = "; ".join(f"{variant}, {choice}" for variant, choice in best.items())
    write_report(results, args.output, header, args, time.perf_counter() - began, batches)
    print(args.output.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
