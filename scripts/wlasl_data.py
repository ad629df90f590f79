"""Where the WLASL data and checkpoints are: `WLASL_DATA`, else data/wlasl/, else ../shared/data/wlasl/."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VARIANTS = ("asl100", "asl300", "asl1000", "asl2000")
WEIGHT_NAMES = ("ckpt.pth", "pytorch_model.bin")
REFERENCE_CLIP = "32162"  # WLASL video of "language" (a training clip): demo, smoke tests, benchmarks


def data_root() -> Path:
    """The WLASL data directory this checkout uses."""
    if os.environ.get("WLASL_DATA"):
        return Path(os.environ["WLASL_DATA"]).expanduser().resolve()
    for candidate in (REPO / "data" / "wlasl", REPO.parent / "shared" / "data" / "wlasl"):
        if candidate.is_dir():
            return candidate.resolve()
    raise FileNotFoundError("no WLASL data: set WLASL_DATA, or provide data/wlasl/ or ../shared/data/wlasl/")


def reference_clip(data: Path | None = None) -> Path:
    """The OpenPose frames of the reference clip (REFERENCE_CLIP) under `data` (default: data_root())."""
    return (data or data_root()) / "pose" / REFERENCE_CLIP


@dataclass(frozen=True)
class Weights:
    """A variant's checkpoint, and the config.ini shipped beside it (Hugging Face layout) if any."""

    checkpoint: Path
    config: Path | None


def find_weights(root: Path, variant: str) -> Weights | None:
    """Find a variant's checkpoint: the WLASL release (`aslN/ckpt.pth`) or Hugging Face
    (`checkpoints/aslN/pytorch_model.bin` + `config.ini`) layout, under `root` or `root/checkpoints`."""
    for folder in (root / "checkpoints" / variant, root / variant):
        for name in WEIGHT_NAMES:
            if (folder / name).is_file():
                configs = [folder / "config.ini", folder / f"{variant}.ini"]
                return Weights(folder / name, next((c for c in configs if c.is_file()), None))
    return None
