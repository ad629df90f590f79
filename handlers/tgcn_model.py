"""Pose-TGCN (`GCN_muti_att`, WLASL) with the released checkpoints' exact state_dict layout.

Each graph layer holds one learned 55x55 adjacency `att`: out = att @ (x @ weight) + bias.
"""
from __future__ import annotations

import hashlib
import math
import pickle
import zipfile
from pathlib import Path

import torch
from torch import nn

from handlers.keypoints import NUM_POINTS
from handlers.tgcn_config import TGCNConfig


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or does not fit the configured model."""


class GraphConvolution(nn.Module):
    """A graph convolution over the 55 keypoints with a learned adjacency."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.att = nn.Parameter(torch.empty(NUM_POINTS, NUM_POINTS))
        self.bias = nn.Parameter(torch.empty(out_features))
        bound = 1.0 / math.sqrt(out_features)
        for param in (self.weight, self.att, self.bias):
            nn.init.uniform_(param, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(self.att, torch.matmul(x, self.weight)) + self.bias


class GraphBlock(nn.Module):
    """Two graph convolutions, each with BatchNorm over (points x features) and tanh, plus a residual."""

    def __init__(self, features: int, p_dropout: float) -> None:
        super().__init__()
        self.gc1 = GraphConvolution(features, features)
        self.bn1 = nn.BatchNorm1d(NUM_POINTS * features)
        self.gc2 = GraphConvolution(features, features)
        self.bn2 = nn.BatchNorm1d(NUM_POINTS * features)
        self.do = nn.Dropout(p_dropout)
        self.act_f = nn.Tanh()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.do(self.act_f(_batch_norm(self.bn1, self.gc1(x))))
        y = self.do(self.act_f(_batch_norm(self.bn2, self.gc2(y))))
        return y + x


class GCN_muti_att(nn.Module):  # noqa: N801 - the upstream name, kept so checkpoints and docs line up
    """The WLASL Pose-TGCN classifier: (B, 55, input_feature) -> (B, num_class) logits."""

    def __init__(self, input_feature: int, hidden_feature: int, num_class: int, p_dropout: float,
                 num_stage: int = 1) -> None:
        super().__init__()
        self.num_stage = num_stage
        self.gc1 = GraphConvolution(input_feature, hidden_feature)
        self.bn1 = nn.BatchNorm1d(NUM_POINTS * hidden_feature)
        self.gcbs = nn.ModuleList(GraphBlock(hidden_feature, p_dropout) for _ in range(num_stage))
        self.do = nn.Dropout(p_dropout)
        self.act_f = nn.Tanh()
        self.fc_out = nn.Linear(hidden_feature, num_class)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.do(self.act_f(_batch_norm(self.bn1, self.gc1(x))))
        for block in self.gcbs:
            y = block(y)
        return self.fc_out(y.mean(dim=1))


def _batch_norm(bn: nn.BatchNorm1d, y: torch.Tensor) -> torch.Tensor:
    """BatchNorm1d over the flattened (points x features) axis, as the original model applies it."""
    b, n, f = y.shape
    return bn(y.reshape(b, n * f)).reshape(b, n, f)


def build_model(config: TGCNConfig, num_class: int) -> GCN_muti_att:
    """An untrained model shaped by `config` (weights are random until loaded)."""
    return GCN_muti_att(input_feature=config.input_feature, hidden_feature=config.hidden_size,
                        num_class=num_class, p_dropout=config.drop_p, num_stage=config.num_stages)


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | Path, expected: str) -> Path:
    """`path`, if its sha256 is the archive's recorded one; CheckpointError otherwise."""
    actual = sha256_file(path)
    if actual != expected:
        raise CheckpointError(f"{path}: sha256 {actual} does not match the archive's "
                              f"recorded {expected}; refusing to serve these weights")
    return Path(path)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint safely onto the CPU: `weights_only=True`, wrappers and `module.` removed.

    Accepts a bare state_dict (the WLASL release), `{"state_dict": ...}` / `{"model_state_dict": ...}`
    wrappers and DataParallel's `module.` prefix (the Hugging Face copies).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (truncated or tampered?): "
                              f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    for wrapper in ("state_dict", "model_state_dict"):
        if isinstance(loaded, dict) and isinstance(loaded.get(wrapper), dict):
            loaded = loaded[wrapper]
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise CheckpointError(f"{path}: expected a state_dict of tensors, found {type(loaded).__name__}")
    if loaded and all(key.startswith("module.") for key in loaded):
        loaded = {key[len("module."):]: value for key, value in loaded.items()}
    return dict(loaded)


def describe_checkpoint(state: dict[str, torch.Tensor]) -> str:
    """What a state_dict's shapes say about the model it belongs to."""
    try:
        hidden = state["gc1.weight"].shape[1]
        classes = state["fc_out.weight"].shape[0]
        stages = len({key.split(".")[1] for key in state if key.startswith("gcbs.")})
        frames = state["gc1.weight"].shape[0] // 2
    except (KeyError, IndexError):
        return "not a TGCN state_dict"
    return f"HIDDEN_SIZE={hidden}, NUM_STAGES={stages}, NUM_SAMPLES={frames}, {classes} classes"


def check_shapes(state: dict[str, torch.Tensor], model: nn.Module, source: str) -> None:
    """Raise CheckpointError naming every missing, unexpected or mis-shaped key."""
    expected_state = model.state_dict()
    expected = {key: tuple(value.shape) for key, value in expected_state.items()}
    found = {key: tuple(value.shape) for key, value in state.items()}
    problems = [f"{key}: expected {expected[key]}, found {shape}"
                for key, shape in found.items() if key in expected and expected[key] != shape]
    problems += [f"missing {key} {shape}" for key, shape in expected.items() if key not in found]
    problems += [f"unexpected {key} {shape}" for key, shape in found.items() if key not in expected]
    if problems:
        shown = "; ".join(problems[:4]) + (f"; ... {len(problems) - 4} more" if len(problems) > 4 else "")
        raise CheckpointError(f"{source}: checkpoint does not match the config: expected "
                              f"{describe_checkpoint(expected_state)}, found {describe_checkpoint(state)} "
                              f"({len(problems)} mismatched keys: {shown})")


def load_model(checkpoint: str | Path, config: TGCNConfig, num_class: int,
               expected_sha256: str | None = None) -> GCN_muti_att:
    """Build the model from `config`, load `checkpoint` strictly and return it in eval mode."""
    if expected_sha256 is not None:
        verify_sha256(checkpoint, expected_sha256)
    state = read_state_dict(checkpoint)
    model = build_model(config, num_class)
    check_shapes(state, model, str(checkpoint))
    model.load_state_dict(state, strict=True)
    return model.eval()
