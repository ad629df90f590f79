"""scripts/archive/build_archives.py: what it packs, what it refuses, and that rebuilding is idempotent."""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from handlers.tgcn_model import sha256_file
from scripts.archive import build_archives
from scripts.wlasl_data import REPO, find_weights
from tests.conftest import SHARED, real_data


def data_with(tmp_path: Path, layout: dict[str, Path]) -> Path:
    """A data tree with the real WLASL json and the given files (relative path -> source)."""
    root = tmp_path / "data"
    root.mkdir()
    (root / "WLASL_v0.3.json").symlink_to(real_data() / "WLASL_v0.3.json")
    (root / "pose").symlink_to(real_data() / "pose")
    for relative, source in layout.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).symlink_to(source)
    return root


def build(root: Path, tmp_path: Path, *extra: str) -> tuple[int, Path]:
    store = tmp_path / "store"
    code = build_archives.main(["--data", str(root), "--export-path", str(store),
                                "--build-dir", str(tmp_path / "build"), *extra])
    return code, store


def members(mar: Path) -> dict[str, str]:
    """Archive member -> sha256, with the manifest's build timestamp removed."""
    result = {}
    with zipfile.ZipFile(mar) as archive:
        for name in archive.namelist():
            data = archive.read(name)
            if name == "MAR-INF/MANIFEST.json":
                manifest = json.loads(data)
                manifest.pop("createdOn")
                data = json.dumps(manifest, sort_keys=True).encode()
            result[name] = hashlib.sha256(data).hexdigest()
    return result


def test_archive_contents(model_store: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(model_store / "asl100.mar") as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("MAR-INF/MANIFEST.json"))
        config = yaml.safe_load(archive.read("model-config.yaml"))
        glosses = archive.read("glosses.txt").decode().splitlines()
        ini = archive.read("config.ini").decode()
    assert {"ckpt.pth", "config.ini", "glosses.txt", "model-config.yaml", "tgcn_handler.py",
            "handlers/tgcn_model.py", "handlers/keypoints.py", "handlers/payload.py", "handlers/framing.py",
            "framing.yaml"} <= names
    assert manifest["model"]["modelVersion"] == "1.0" and manifest["model"]["handler"] == "tgcn_handler.py"
    assert glosses == (SHARED / "asl100.txt").read_text().splitlines()
    assert ini == (REPO / "configs" / "asl100.ini").read_text()
    assert config["handler"]["checkpoint_sha256"] == sha256_file(SHARED / "checkpoints" / "asl100" / "ckpt.pth")
    assert config["handler"]["num_classes"] == 100 and config["batchSize"] >= 1
    assert config["handler"]["framing"]["openpose_frames"] == "frame"  # the paper's preprocessing for OpenPose
    assert {"minWorkers", "maxWorkers", "maxBatchDelay", "responseTimeout"} <= set(config)


@pytest.mark.slow  # builds archives (ONNX export and parity check on every real clip)
def test_missing_weights_are_skipped_with_reason(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = data_with(tmp_path, {"checkpoints/asl100/ckpt.pth": SHARED / "checkpoints" / "asl100" / "ckpt.pth"})
    code, store = build(root, tmp_path, "--variants", "asl100", "asl1000")
    out = capsys.readouterr().out
    assert code == 0 and sorted(p.name for p in store.glob("*.mar")) == ["asl100.mar"]
    assert "skip  asl1000: no checkpoint under" in out


@pytest.mark.slow  # builds archives (ONNX export and parity check on every real clip)
def test_version_is_settable_and_rebuild_is_idempotent(tmp_path: Path) -> None:
    root = data_with(tmp_path, {"checkpoints/asl100/ckpt.pth": SHARED / "checkpoints" / "asl100" / "ckpt.pth"})
    code, store = build(root, tmp_path, "--variants", "asl100", "--version", "2.0")
    first = members(store / "asl100.mar")
    assert code == 0 and build(root, tmp_path, "--variants", "asl100", "--version", "2.0")[0] == 0
    assert members(store / "asl100.mar") == first
    with zipfile.ZipFile(store / "asl100.mar") as archive:
        assert json.loads(archive.read("MAR-INF/MANIFEST.json"))["model"]["modelVersion"] == "2.0"


def test_config_shape_mismatch_stops_the_build(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    checkpoint = SHARED / "checkpoints" / "asl300" / "ckpt.pth"
    root = data_with(tmp_path, {"checkpoints/asl300/pytorch_model.bin": checkpoint,
                                "checkpoints/asl300/config.ini": REPO / "configs" / "asl1000.ini"})
    code, store = build(root, tmp_path, "--variants", "asl300")
    err = capsys.readouterr().err
    assert code == 1 and not list(store.glob("*.mar"))
    assert "FAIL  asl300" in err and "pytorch_model.bin" in err and "config.ini" in err
    assert "expected HIDDEN_SIZE=256, NUM_STAGES=24" in err and "found HIDDEN_SIZE=64, NUM_STAGES=20" in err


@pytest.mark.slow  # builds archives (ONNX export and parity check on every real clip)
def test_hugging_face_layout_builds(tmp_path: Path) -> None:
    released = torch.load(SHARED / "checkpoints" / "asl100" / "ckpt.pth", map_location="cpu", weights_only=True)
    source = tmp_path / "hf"
    source.mkdir()
    torch.save({"state_dict": {f"module.{k}": v for k, v in released.items()}}, source / "pytorch_model.bin")
    root = data_with(tmp_path, {"checkpoints/asl100/pytorch_model.bin": source / "pytorch_model.bin",
                                "checkpoints/asl100/config.ini": REPO / "configs" / "asl100.ini"})
    weights = find_weights(root, "asl100")
    assert weights.checkpoint.name == "pytorch_model.bin" and weights.config.name == "config.ini"
    code, store = build(root, tmp_path, "--variants", "asl100")
    assert code == 0
    with zipfile.ZipFile(store / "asl100.mar") as archive:
        assert json.loads(archive.read("MAR-INF/MANIFEST.json"))["model"]["serializedFile"] == "pytorch_model.bin"


def test_no_weights_at_all_fails(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _ = build(data_with(tmp_path, {}), tmp_path)
    assert code == 1 and "no archive built" in capsys.readouterr().err


def test_handler_settings_can_be_set_per_build(tmp_path: Path) -> None:
    """--handler-setting overrides configs/aslN.yaml (and configs/video.yaml) in the archive's model-config.yaml."""
    root = data_with(tmp_path, {"checkpoints/asl100/ckpt.pth": SHARED / "checkpoints" / "asl100" / "ckpt.pth"})
    for extra in ([], ["--video"]):
        code, _ = build(root, tmp_path, "--variants", "asl100", "--runtime", "eager", *extra,
                        "--handler-setting", "min_hand_frames=3")
        staged = tmp_path / "build" / ("asl100_video" if extra else "asl100") / "model-config.yaml"
        assert code == 0 and yaml.safe_load(staged.read_text())["handler"]["min_hand_frames"] == 3
