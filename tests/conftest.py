"""Shared fixtures: the real WLASL data in ../shared, a data tree with generated asl1000/asl2000
checkpoints, archives built from it, and one live TorchServe on free loopback ports."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from handlers.labels import variant_classes
from handlers.tgcn_config import read_config
from handlers.tgcn_model import build_model
from scripts.archive import build_archives
from scripts.serve.torchserve_ctl import Ports, TorchServe
from scripts.wlasl_data import REPO

SHARED = REPO.parent / "shared" / "data" / "wlasl"
CLIP = SHARED / "pose" / "32162"
REAL_VARIANTS = ("asl100", "asl300")
GENERATED_VARIANTS = ("asl1000", "asl2000")


def real_data() -> Path:
    """The real WLASL data: WLASL_DATA if set, else ../shared/data/wlasl."""
    root = Path(os.environ.get("WLASL_DATA", SHARED))
    if not (root / "WLASL_v0.3.json").is_file():
        pytest.fail(f"WLASL data not found at {root}; the tests need ../shared/data/wlasl or WLASL_DATA")
    return root


def generated_checkpoint(variant: str, path: Path, seed: int = 0) -> Path:
    """A shape-correct, randomly initialised checkpoint for `variant` (NOT trained weights).

    The released asl1000/asl2000 weights are not available here; these stand in so that the
    hidden-256 / 24-stage archives are built, loaded and served end to end.
    """
    torch.manual_seed(seed)
    model = build_model(read_config(REPO / "configs" / f"{variant}.ini"), variant_classes(variant))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    (path.parent / "GENERATED-NOT-TRAINED.txt").write_text("random weights with the real shapes, made by the tests\n")
    return path


@pytest.fixture(scope="session")
def clip_frames() -> list[dict]:
    """The OpenPose frames of WLASL video 32162 (gloss 'language')."""
    return [json.loads(path.read_text()) for path in sorted(CLIP.glob("image_*_keypoints.json"))]


@pytest.fixture(scope="session")
def data_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A WLASL data tree: the real json and asl100/asl300 weights, generated asl1000/asl2000 weights."""
    real = real_data()
    root = tmp_path_factory.mktemp("wlasl")
    (root / "WLASL_v0.3.json").symlink_to(real / "WLASL_v0.3.json")
    (root / "pose").symlink_to(real / "pose")  # real clips: the ONNX export is checked against eager on them
    for variant in REAL_VARIANTS:
        (root / "checkpoints" / variant).mkdir(parents=True)
        (root / "checkpoints" / variant / "ckpt.pth").symlink_to(real / "checkpoints" / variant / "ckpt.pth")
    for seed, variant in enumerate(GENERATED_VARIANTS):
        generated_checkpoint(variant, root / "checkpoints" / variant / "ckpt.pth", seed)
    return root


@pytest.fixture(scope="session")
def model_store(data_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All four archives, built by the project's build command."""
    store = tmp_path_factory.mktemp("model_store")
    build_dir = tmp_path_factory.mktemp("build")
    code = build_archives.main(["--data", str(data_tree), "--export-path", str(store),
                                "--build-dir", str(build_dir), "--require"])
    assert code == 0
    return store


@pytest.fixture(scope="session")
def server(model_store: Path, tmp_path_factory: pytest.TempPathFactory):
    """A live TorchServe with all four archives, on free loopback ports; stopped by PID at the end."""
    instance = TorchServe(tmp_path_factory.mktemp("run"), model_store, ports=Ports.free())
    instance.start(timeout=240)
    yield instance
    assert instance.stop()
