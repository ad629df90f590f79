"""An independent reference for the served numbers, written from the WLASL paper/code description
without importing handlers/: OpenPose parsing, 'k copies' test windows on 1-based frame numbers,
and the TGCN forward pass as plain tensor algebra on the checkpoint's state_dict."""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

EXCLUDED_BODY = {9, 10, 11, 12, 13, 14, 19, 20, 21, 22, 23, 24}


def read_frame(path: Path) -> torch.Tensor | None:
    """(55, 2) normalised points of one OpenPose file, None without a person."""
    people = json.loads(Path(path).read_text())["people"]
    if not people:
        return None
    person = people[0]
    flat = person["pose_keypoints_2d"] + person["hand_left_keypoints_2d"] + person["hand_right_keypoints_2d"]
    xs = [v for i, v in enumerate(flat) if i % 3 == 0 and i // 3 not in EXCLUDED_BODY]
    ys = [v for i, v in enumerate(flat) if i % 3 == 1 and i // 3 not in EXCLUDED_BODY]
    x = 2 * (torch.tensor(xs, dtype=torch.float32) / 256.0 - 0.5)
    y = 2 * (torch.tensor(ys, dtype=torch.float32) / 256.0 - 0.5)
    return torch.stack([x, y], dim=1)


def k_copies(frame_start: int, frame_end: int, num_samples: int = 50, num_copies: int = 4) -> list[int]:
    """Frame numbers of the test windows, concatenated."""
    num_frames = frame_end - frame_start + 1
    if num_frames <= num_samples:
        window = list(range(frame_start, frame_end + 1)) + [frame_end] * (num_samples - num_frames)
        return window * num_copies
    if num_samples * num_copies < num_frames:
        start = (frame_start + frame_end) // 2 - num_samples * num_copies // 2
        return list(range(start, start + num_samples * num_copies))
    stride = math.floor((num_frames - num_samples) / (num_copies - 1))
    frames = []
    for i in range(num_copies):
        frames += list(range(frame_start + i * stride, frame_start + i * stride + num_samples))
    return frames


def clip_input(folder: Path) -> torch.Tensor:
    """(4, 55, 100) windows for a folder of image_XXXXX_keypoints.json files."""
    files = sorted(Path(folder).glob("image_*_keypoints.json"))
    poses = [read_frame(files[i - 1]) for i in k_copies(1, len(files))]
    sample = torch.cat(poses, dim=1)  # (55, 2 * 200): x, y of each frame in turn
    return torch.stack(sample.split(100, dim=1))


def forward(state: dict[str, torch.Tensor], x: torch.Tensor, num_stages: int) -> torch.Tensor:
    """The TGCN in eval mode, written out: graph conv, BatchNorm with running stats, tanh, residuals."""
    def gc(prefix: str, h: torch.Tensor) -> torch.Tensor:
        return state[f"{prefix}.att"] @ (h @ state[f"{prefix}.weight"]) + state[f"{prefix}.bias"]

    def bn(prefix: str, h: torch.Tensor) -> torch.Tensor:
        b, n, f = h.shape
        flat = h.reshape(b, n * f)
        mean, var = state[f"{prefix}.running_mean"], state[f"{prefix}.running_var"]
        out = (flat - mean) / torch.sqrt(var + 1e-5) * state[f"{prefix}.weight"] + state[f"{prefix}.bias"]
        return out.reshape(b, n, f)

    y = torch.tanh(bn("bn1", gc("gc1", x)))
    for i in range(num_stages):
        z = torch.tanh(bn(f"gcbs.{i}.bn1", gc(f"gcbs.{i}.gc1", y)))
        z = torch.tanh(bn(f"gcbs.{i}.bn2", gc(f"gcbs.{i}.gc2", z)))
        y = z + y
    return y.mean(dim=1) @ state["fc_out.weight"].T + state["fc_out.bias"]


def probabilities(checkpoint: Path, folder: Path, num_stages: int) -> torch.Tensor:
    """Softmax of the window-averaged logits for a clip, in float64."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state = {k: v.double() for k, v in state.items() if v.is_floating_point()}
    with torch.no_grad():
        logits = forward(state, clip_input(folder).double(), num_stages)
    return torch.softmax(logits.mean(dim=0), dim=-1)
