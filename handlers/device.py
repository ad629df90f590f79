"""Where a worker runs its model: the GPU TorchServe assigned it, else the CPU."""
from __future__ import annotations

from typing import Any, Mapping

import torch


def select_device(system_properties: Mapping[str, Any]) -> torch.device:
    """`cuda:<gpu_id>` when TorchServe gave the worker a GPU (model config `deviceType: gpu`) and CUDA
    is usable, else the CPU (the default: `deviceType: cpu`, or no GPU on this machine)."""
    gpu_id = system_properties.get("gpu_id")
    if gpu_id is not None and torch.cuda.is_available():
        return torch.device(f"cuda:{int(gpu_id)}")
    return torch.device("cpu")
