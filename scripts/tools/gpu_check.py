"""GPU check for a machine with a GPU: load an archive's handler on cuda:<gpu_id> (as a TorchServe
worker with `deviceType: gpu` would), compare its probabilities with the CPU handler's, measure both.

    python -m scripts.tools.gpu_check [--archive model_store/asl100.mar] [--gpu-id 0] [--require-gpu]

Without a usable GPU the handler falls back to the CPU; the check reports that (exit 0), or fails
with exit 2 under --require-gpu. Exit 1 when the probabilities differ by more than --tolerance.
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
import torch

from handlers.tgcn_handler import TGCNHandler
from scripts.serve import inprocess
from scripts.client.core import load_input
from scripts.serve.torchserve_ctl import DEFAULT_STORE
from scripts.wlasl_data import reference_clip



def requests_for(batch: int, clip: Path | None, num_classes: int, seed: int = 0) -> list[dict[str, Any]]:
    """`batch` request bodies asking for every class: the clip (if given) and random pixel clips."""
    rng = np.random.default_rng(seed)
    bodies = [load_input(clip)] if clip else []
    while len(bodies) < batch:
        bodies.append({"frames": rng.uniform(0, 256, (int(rng.integers(20, 120)), 55, 2)).round(2).tolist()})
    return [{**body, "top_k": num_classes} for body in bodies[:batch]]


def probabilities(handler: TGCNHandler, bodies: list[dict[str, Any]]) -> np.ndarray:
    """(requests, classes) probabilities in class order."""
    answers = inprocess.classify(handler, bodies)
    table = np.zeros((len(answers), len(handler.glosses)))
    for row, answer in enumerate(answers):
        for entry in answer["top_k"]:
            table[row, entry["index"]] = entry["probability"]
    return table


def throughput(handler: TGCNHandler, bodies: list[dict[str, Any]], iterations: int, seconds: float) -> float:
    """Requests per second for batches of `bodies`, over at most `iterations` batches or `seconds`."""
    inprocess.classify(handler, bodies)  # warm-up
    if handler.device.type == "cuda":
        torch.cuda.synchronize(handler.device)
    done, start = 0, time.perf_counter()
    while done < iterations and time.perf_counter() - start < seconds:
        inprocess.classify(handler, bodies)
        done += 1
    return done * len(bodies) / (time.perf_counter() - start)


def check(archive: Path, gpu_id: int, batch: int, iterations: int, seconds: float, clip: Path | None,
          tolerance: float) -> dict[str, Any]:
    """Load CPU and GPU handlers from `archive`; parity and throughput of both."""
    with tempfile.TemporaryDirectory(prefix="tgcn-gpu-check-") as workdir:
        cpu = inprocess.open_handler(archive, Path(workdir) / "cpu", gpu_id=None, batch_size=batch)
        gpu = inprocess.open_handler(archive, Path(workdir) / "gpu", gpu_id=gpu_id, batch_size=batch)
    bodies = requests_for(batch, clip, len(cpu.glosses))
    difference = float(np.abs(probabilities(gpu, bodies) - probabilities(cpu, bodies)).max())
    return {"archive": str(archive), "cuda_available": torch.cuda.is_available(),
            "device": str(gpu.device), "fallback_to_cpu": gpu.device.type != "cuda",
            "max_abs_difference": difference, "tolerance": tolerance, "parity_ok": difference <= tolerance,
            "batch": batch, "cpu_requests_per_s": round(throughput(cpu, bodies, iterations, seconds), 1),
            "device_requests_per_s": round(throughput(gpu, bodies, iterations, seconds), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=DEFAULT_STORE / "asl100.mar")
    parser.add_argument("--gpu-id", type=int, default=0)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=200, help="at most this many batches per device")
    parser.add_argument("--seconds", type=float, default=20.0, help="at most this long per device")
    parser.add_argument("--clip", type=Path, default=None,
                        help="an OpenPose frame folder included in the parity batch (default: the reference clip, if here)")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--require-gpu", action="store_true", help="fail (exit 2) when no GPU is used")
    args = parser.parse_args(argv)
    if args.clip is None:
        try:
            args.clip = reference_clip() if reference_clip().is_dir() else None
        except FileNotFoundError:  # no WLASL data on this machine: random clips only
            pass
    if not args.archive.is_file():
        print(f"error: {args.archive} not found: build it (make archives) or pass --archive", file=sys.stderr)
        return 1
    report = check(args.archive, args.gpu_id, args.batch, args.iterations, args.seconds, args.clip, args.tolerance)
    print(json.dumps(report, indent=2))
    if report["fallback_to_cpu"]:
        print(f"no usable GPU (cuda available: {report['cuda_available']}): the handler ran on the CPU",
              file=sys.stderr)
        if args.require_gpu:
            return 2
    return 0 if report["parity_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
