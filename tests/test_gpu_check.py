"""Device placement and the GPU check script's CPU fallback (CI has no GPU; the GPU path runs on a GPU machine)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from handlers.device import select_device
from scripts.tools import gpu_check
from tests.conftest import CLIP


def test_device_follows_torchserve_gpu_id(monkeypatch: pytest.MonkeyPatch) -> None:
    assert select_device({}) == torch.device("cpu")
    assert select_device({"gpu_id": None}) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device({"gpu_id": 0}) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device({"gpu_id": 1}) == torch.device("cuda:1")
    assert select_device({"gpu_id": "0"}) == torch.device("cuda:0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback; this machine has a GPU")
def test_gpu_check_falls_back_to_cpu(model_store: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["--archive", str(model_store / "asl100.mar"), "--gpu-id", "0", "--batch", "3", "--iterations", "3",
            "--seconds", "5", "--clip", str(CLIP)]
    assert gpu_check.main(args) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["device"] == "cpu" and report["fallback_to_cpu"] and not report["cuda_available"]
    assert report["parity_ok"] and report["max_abs_difference"] <= 1e-4
    assert report["cpu_requests_per_s"] > 0 and report["device_requests_per_s"] > 0
    assert "no usable GPU" in captured.err
    assert gpu_check.main([*args, "--require-gpu"]) == 2


def test_parity_batch_holds_the_clip_and_every_class(model_store: Path, tmp_path: Path) -> None:
    handler = gpu_check.inprocess.open_handler(model_store / "asl100.mar", tmp_path, gpu_id=None)
    bodies = gpu_check.requests_for(4, CLIP, 100)
    table = gpu_check.probabilities(handler, bodies)
    assert table.shape == (4, 100) and table.sum(axis=1) == pytest.approx([1.0] * 4, abs=1e-6)
    assert table[0].argmax() == 54 and table[0, 54] == pytest.approx(0.9993, abs=5e-4)  # the clip: 'language'


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU refusal; this machine has a GPU")
def test_served_gpu_check_refuses_without_a_gpu_before_starting_anything(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture) -> None:
    from scripts.tools import gpu_served

    assert gpu_served.main(["--store", str(tmp_path)]) == 2  # an empty store: the GPU is checked first
    error = capsys.readouterr().err
    assert error.startswith("error: no usable GPU: torch ") and "CUDA unavailable" in error
    assert "scripts/setup_gpu.sh" in error and not list(tmp_path.iterdir())
