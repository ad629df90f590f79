"""Export a TGCN model to ONNX (dynamic batch axis) and prove it matches eager PyTorch before packaging.

fp32 must match eager within PARITY_TOLERANCE on every logit of the real clips' windows and of
random batches; the opt-in int8 model (dynamic quantisation) cannot, so for it the build prints its
top-1 / top-5 agreement with fp32 instead.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from handlers.errors import InputError
from handlers.keypoints import frames_to_windows, openpose_to_frames
from handlers.runtime import INPUT_NAME, OUTPUT_NAME, OnnxRuntime

PARITY_TOLERANCE = 1e-4
RANDOM_BATCHES = (1, 3, 32)
JITTER_COPIES = 64
JITTER_PIXELS = 2.0


class ParityError(RuntimeError):
    """The exported model does not reproduce eager PyTorch."""


@dataclass(frozen=True)
class Agreement:
    """How often a runtime's top-1 / top-5 classes equal eager's, over `samples` inputs."""

    top1: float
    top5: float
    samples: int

    def __str__(self) -> str:
        return f"top-1 agreement {self.top1:.1%}, top-5 overlap {self.top5:.1%} over {self.samples} windows"


def clip_pixels(data: Path) -> list[np.ndarray]:
    """Every OpenPose clip under `data`/pose/<video id>/ as (T, 55, 2) pixels."""
    clips = []
    for folder in sorted(path for path in (data / "pose").glob("*") if path.is_dir()):
        frames = [json.loads(path.read_text()) for path in sorted(folder.glob("*_keypoints.json"))]
        try:
            clips.append(openpose_to_frames(frames))
        except InputError:
            continue
    return clips


def parity_inputs(clips: list[np.ndarray], num_samples: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Named float32 batches: each real clip's windows, then random batches of several sizes."""
    if not clips:
        raise ParityError("no real OpenPose clip found (data/pose/<id>/*_keypoints.json): refusing to "
                          "package an unchecked export")
    inputs = {f"real clip {i}": frames_to_windows(pixels, num_samples) for i, pixels in enumerate(clips)}
    generator = np.random.default_rng(seed)
    for size in RANDOM_BATCHES:
        inputs[f"random batch {size}"] = generator.uniform(-1, 1, (size, 55, 2 * num_samples)).astype(np.float32)
    return inputs


def jittered_windows(clips: list[np.ndarray], num_samples: int, seed: int = 0) -> np.ndarray:
    """The real clips' windows plus copies with Gaussian keypoint noise (JITTER_PIXELS), for agreement."""
    generator = np.random.default_rng(seed)
    batches = [frames_to_windows(pixels, num_samples) for pixels in clips]
    for pixels in clips:
        for _ in range(JITTER_COPIES):
            noisy = pixels + generator.normal(0, JITTER_PIXELS, pixels.shape) * (pixels != 0)
            batches.append(frames_to_windows(noisy.astype(np.float32), num_samples))
    return np.concatenate(batches)


def export(model: torch.nn.Module, path: Path, input_feature: int) -> None:
    """Write `model` as ONNX with a dynamic batch axis (TorchScript-based exporter, opset 17)."""
    example = torch.zeros(2, 55, input_feature)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation notice for dynamo=False
        torch.onnx.export(model.eval(), (example,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                          opset_version=17, dynamo=False)


def eager_logits(model: torch.nn.Module, windows: np.ndarray) -> np.ndarray:
    """The eager PyTorch logits of a batch."""
    with torch.inference_mode():
        return model(torch.from_numpy(windows)).numpy()


def check_parity(model: torch.nn.Module, runtime: OnnxRuntime, inputs: dict[str, np.ndarray]) -> float:
    """The largest |logit difference| over `inputs`; ParityError naming the input if over the tolerance."""
    worst = 0.0
    for name, windows in inputs.items():
        difference = float(np.abs(runtime(windows).numpy() - eager_logits(model, windows)).max())
        if not difference <= PARITY_TOLERANCE:
            raise ParityError(f"{runtime.name} logits differ from eager by {difference:.3g} on {name} "
                              f"(tolerance {PARITY_TOLERANCE:g}): refusing to package")
        worst = max(worst, difference)
    return worst


def agreement(model: torch.nn.Module, runtime: OnnxRuntime, windows: np.ndarray) -> Agreement:
    """Top-1 agreement and top-5 set overlap of `runtime` with eager, per window."""
    expected = torch.from_numpy(eager_logits(model, windows))
    found = runtime(windows)
    top1 = float((expected.argmax(1) == found.argmax(1)).float().mean())
    k = min(5, expected.shape[1])
    overlap = [len(set(a) & set(b)) / k for a, b in zip(expected.topk(k).indices.tolist(), found.topk(k).indices.tolist())]
    return Agreement(top1, float(np.mean(overlap)), len(windows))


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation of the MatMul/Gemm weights (activations stay float)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)


def build_onnx(model: torch.nn.Module, runtime: str, target: Path, data: Path, input_feature: int,
               threads: int = 1) -> str:
    """Export (and for onnx-int8 quantise) `model` to `target` after the parity checks; returns a report line."""
    clips = clip_pixels(data)
    num_samples = input_feature // 2
    inputs = parity_inputs(clips, num_samples)
    fp32 = target if runtime == "onnx" else target.with_suffix(".fp32.onnx")
    export(model, fp32, input_feature)
    worst = check_parity(model, OnnxRuntime(fp32, threads), inputs)
    windows = sum(len(batch) for batch in inputs.values())
    report = f"onnx fp32 max |logit - eager| = {worst:.2g} over {len(clips)} real clip(s) and random batches ({windows} windows)"
    if runtime == "onnx-int8":
        quantize_int8(fp32, target)
        fp32.unlink()
        report += f"; int8 vs eager: {agreement(model, OnnxRuntime(target, threads), jittered_windows(clips, num_samples))}"
    return report
