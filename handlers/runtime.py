"""The runtime that turns a batch of windows into logits: eager PyTorch or an ONNX Runtime session.

An archive picks one in its model-config.yaml (`handler.runtime`, from configs/aslN.yaml or
`build_archives --runtime`): `eager` runs the checkpoint in PyTorch; `onnx` (and the opt-in,
approximate `onnx-int8`) runs the archive's `model.onnx`, exported with a dynamic batch axis and
checked against eager at build time (scripts/archive/export_onnx.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from handlers.tgcn_config import RUNTIMES, TGCNConfig
from handlers.tgcn_model import load_model, verify_sha256

ONNX_FILE = "model.onnx"
INPUT_NAME = "windows"
OUTPUT_NAME = "logits"


class Runtime(Protocol):
    """Something that maps (B, 55, 2 * num_samples) float32 windows to (B, num_classes) logits."""

    name: str

    def __call__(self, windows: np.ndarray) -> torch.Tensor: ...


class EagerRuntime:
    """The PyTorch model itself, under inference_mode, on `device` (logits come back on the CPU)."""

    name = "eager"

    def __init__(self, model: torch.nn.Module, device: torch.device = torch.device("cpu")) -> None:
        self.device = device
        self.model = model.eval().to(device)

    def __call__(self, windows: np.ndarray) -> torch.Tensor:
        with torch.inference_mode():
            return self.model(torch.from_numpy(windows).to(self.device)).cpu()


class OnnxRuntime:
    """An ONNX Runtime CPU session over an exported model with a dynamic batch axis."""

    def __init__(self, path: str | Path, threads: int = 1, name: str = "onnx",
                 device: torch.device = torch.device("cpu"), spinning: bool = True) -> None:
        import onnxruntime  # imported here: eager archives and their tests do not need it

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        # Idle intra-op threads spin by default, taking CPU that TorchServe's frontend and clients need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers: list = ["CPUExecutionProvider"]
        if device.type == "cuda" and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
        self.session = onnxruntime.InferenceSession(str(path), options, providers=providers)
        self.name = name

    def __call__(self, windows: np.ndarray) -> torch.Tensor:
        (logits,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(windows, dtype=np.float32)})
        return torch.from_numpy(logits)


def runtime_name(settings: dict) -> str:
    """The runtime an archive's `handler:` settings ask for (default eager), validated."""
    name = str(settings.get("runtime", "eager"))
    if name not in RUNTIMES:
        raise ValueError(f"handler.runtime = {name!r}; expected one of {', '.join(RUNTIMES)}")
    return name


def load_runtime(settings: dict, model_dir: Path, weights: Path, config: TGCNConfig, num_classes: int,
                 device: torch.device = torch.device("cpu")) -> Runtime:
    """The runtime an archive asks for, from its verified files: the checkpoint's sha256 is checked for every
    runtime (the ONNX model is derived from it), model.onnx's too for the ONNX Runtime ones. On a GPU
    `device`, eager runs there and ONNX Runtime uses its CUDA provider when the installed build has one."""
    name = runtime_name(settings)
    if name == "eager":
        model = load_model(weights, config, num_classes, expected_sha256=settings["checkpoint_sha256"])
        return EagerRuntime(model, device)
    if "onnx_sha256" not in settings:
        raise RuntimeError(f"handler.runtime = {name} but the archive records no onnx_sha256; rebuild it with "
                           f"scripts/archive/build_archives.py")
    verify_sha256(weights, settings["checkpoint_sha256"])
    threads = int(settings.get("intra_op_threads") or 1)
    spinning = str(settings.get("intra_op_spinning", True)).lower() not in ("false", "0", "no")
    return OnnxRuntime(verify_sha256(Path(model_dir) / ONNX_FILE, settings["onnx_sha256"]), threads, name, device,
                       spinning)
