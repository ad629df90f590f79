"""GPU check of the served path, for a machine with a GPU, in one unattended command (about 3 minutes):

1. TorchServe with GPU copies of the asl100 and asl2000 archives (`deviceType: gpu`, `deviceIds: [id]`);
   the workers must report that they run on cuda.
2. Parity: every real clip under <data>/pose through the server on the GPU against the CPU handler
   in this process, all classes, within --tolerance.
3. Throughput of asl2000 at batch 1..64: served (batchSize B, B clients) and in-process on the GPU.

    bash scripts/setup_gpu.sh                       # once: .venv-gpu with CUDA torch and onnxruntime-gpu
    .venv-gpu/bin/python -m scripts.tools.gpu_served [--store model_store] [--gpu-id 0]

Without a usable GPU it stops before starting anything, says why, and exits 2.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import requests
import torch

from scripts.archive.derive import derive_archive
from scripts.bench.loadgen import drive
from scripts.client.core import load_input
from scripts.serve import inprocess
from scripts.serve.torchserve_ctl import DEFAULT_STORE, Ports, TorchServe
from scripts.tools.gpu_check import probabilities
from scripts.wlasl_data import data_root

VARIANTS = ("asl100", "asl2000")
BATCHES = (1, 8, 16, 32, 64)


def gpu_problem(gpu_id: int) -> str | None:
    """Why this machine cannot run the check (None when it can)."""
    if not torch.cuda.is_available():
        return (f"no usable GPU: torch {torch.__version__} reports CUDA unavailable (built for CUDA "
                f"{torch.version.cuda or 'none'}); run on a GPU machine with the environment from "
                "scripts/setup_gpu.sh (.venv-gpu)")
    if gpu_id >= torch.cuda.device_count():
        return f"--gpu-id {gpu_id}, but this machine has {torch.cuda.device_count()} GPU(s)"
    return None


def served_probabilities(server: TorchServe, model: str, body: dict[str, Any], classes: int) -> np.ndarray:
    """All class probabilities for one request, in class order, through the server."""
    response = requests.post(f"{server.inference_url}/predictions/{model}", headers=server.headers(),
                             json={**body, "top_k": classes}, timeout=120)
    response.raise_for_status()
    table = np.zeros(classes)
    for entry in response.json()["top_k"]:
        table[entry["index"]] = entry["probability"]
    return table


def served_rate(server: TorchServe, model: str, body: bytes, clients: int, seconds: float) -> float:
    """Requests per second over HTTP from `clients` threads."""
    session = requests.Session()
    headers = {**server.headers(), "Content-Type": "application/json"}
    url = f"{server.inference_url}/predictions/{model}"

    def call() -> int:
        session.post(url, data=body, headers=headers, timeout=120).raise_for_status()
        return 1
    _, samples, window = drive(call, clients, seconds, 1.0)
    return samples / window


def run(store: Path, gpu_id: int, seconds: float, tolerance: float, workdir: Path) -> dict[str, Any]:
    gpu_store = workdir / "store"
    gpu_store.mkdir()
    gpu = {"deviceType": "gpu", "deviceIds": [gpu_id]}
    names = {variant: derive_archive(store / f"{variant}.mar", gpu_store, variant, gpu) for variant in VARIANTS}
    for batch in BATCHES:
        derive_archive(store / "asl2000.mar", gpu_store, f"asl2000_b{batch}", {**gpu, "batchSize": batch})
    clips = sorted(path for path in (data_root() / "pose").iterdir() if path.is_dir())
    bodies = [load_input(clip) for clip in clips]
    report: dict[str, Any] = {"gpu": torch.cuda.get_device_name(gpu_id), "clips": len(clips), "parity": {}}
    server = TorchServe(workdir / "run", gpu_store, ports=Ports.free())
    server.start(sorted(name.removesuffix(".mar") for name in names.values()), timeout=300)
    try:
        lines = server.model_log.read_text(errors="replace").splitlines()
        report["workers_on_cuda"] = {variant: any(f"loaded {variant} v" in line and " on cuda" in line for line in lines)
                                     for variant in VARIANTS}
        for variant in VARIANTS:
            cpu = inprocess.open_handler(store / f"{variant}.mar", workdir / f"cpu-{variant}", gpu_id=None)
            classes = len(cpu.glosses)
            expected = probabilities(cpu, [{**body, "top_k": classes} for body in bodies])
            found = np.stack([served_probabilities(server, variant, body, classes) for body in bodies])
            report["parity"][variant] = float(np.abs(found - expected).max())
        handler = inprocess.open_handler(store / "asl2000.mar", workdir / "gpu-asl2000", gpu_id=gpu_id, batch_size=64)
        body = json.dumps(bodies[0]).encode()
        report["asl2000_requests_per_s"] = {}
        for batch in BATCHES:
            name = f"asl2000_b{batch}"
            requests.post(f"{server.management_url}/models", headers=server.headers("management"), timeout=300,
                          params={"url": f"{name}.mar", "initial_workers": 1, "synchronous": "true"}).raise_for_status()
            batch_bodies = [bodies[0]] * batch
            in_process = drive(lambda: len(inprocess.classify(handler, batch_bodies)), 1, seconds, 1.0)
            report["asl2000_requests_per_s"][batch] = {
                "served": round(served_rate(server, name, body, batch, seconds), 1),
                "in_process": round(in_process[1] / in_process[2], 1)}
            requests.delete(f"{server.management_url}/models/{name}", headers=server.headers("management"), timeout=120)
    finally:
        server.stop()
    report["tolerance"] = tolerance
    report["parity_ok"] = all(difference <= tolerance for difference in report["parity"].values())
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE, help="holds asl100.mar and asl2000.mar")
    parser.add_argument("--gpu-id", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per throughput cell")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args(argv)
    problem = gpu_problem(args.gpu_id)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    missing = [f"{variant}.mar" for variant in VARIANTS if not (args.store / f"{variant}.mar").is_file()]
    if missing:
        print(f"error: {', '.join(missing)} not in {args.store}: build them (make archives, with asl2000 weights "
              "or python -m scripts.bench.benchmark's build/bench/store) or pass --store", file=sys.stderr)
        return 1
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tgcn-gpu-served-") as workdir:
        report = run(args.store, args.gpu_id, args.seconds, args.tolerance, Path(workdir))
    report["seconds"] = round(time.perf_counter() - began, 1)
    print(json.dumps(report, indent=2))
    if not all(report["workers_on_cuda"].values()):
        print("error: the served workers did not run on cuda (see the model log)", file=sys.stderr)
        return 2
    return 0 if report["parity_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
