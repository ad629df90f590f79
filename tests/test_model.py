"""The model matches the released checkpoints exactly, and bad checkpoints fail clearly."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from handlers.labels import variant_classes
from handlers.tgcn_config import ConfigError, TGCNConfig, read_config
from handlers.tgcn_model import CheckpointError, build_model, load_model, read_state_dict, sha256_file
from scripts.wlasl_data import REPO
from tests.conftest import SHARED

PUBLISHED = {  # DEVELOPERS.md: the published config.ini values
    "asl100": dict(log_interval=1, init_lr=0.001, hidden_size=64, num_stages=20),
    "asl300": dict(log_interval=1, init_lr=0.001, hidden_size=64, num_stages=20),
    "asl1000": dict(log_interval=3, init_lr=0.0003, hidden_size=256, num_stages=24),
    "asl2000": dict(log_interval=3, init_lr=0.0003, hidden_size=256, num_stages=24),
}


@pytest.mark.parametrize("variant", sorted(PUBLISHED))
def test_configs_hold_the_published_values(variant: str) -> None:
    config = read_config(REPO / "configs" / f"{variant}.ini")
    expected = TGCNConfig(batch_size=64, max_epochs=200, num_samples=50, drop_p=0.3, adam_eps=1e-3,
                          adam_weight_decay=0.0, **PUBLISHED[variant])
    assert config == expected


@pytest.mark.parametrize("variant", ["asl100", "asl300"])
def test_state_dict_matches_released_checkpoint(variant: str) -> None:
    released = read_state_dict(SHARED / "checkpoints" / variant / "ckpt.pth")
    model = build_model(read_config(REPO / "configs" / f"{variant}.ini"), variant_classes(variant))
    ours = model.state_dict()
    assert len(released) == 330
    assert list(ours) == list(released)
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in released.items()}


def test_loaded_model_is_in_eval_mode_with_released_weights() -> None:
    path = SHARED / "checkpoints" / "asl100" / "ckpt.pth"
    model = load_model(path, read_config(REPO / "configs" / "asl100.ini"), 100, expected_sha256=sha256_file(path))
    assert not model.training
    released = read_state_dict(path)
    assert torch.equal(model.state_dict()["gcbs.7.gc2.att"], released["gcbs.7.gc2.att"])


def test_wrong_config_names_file_and_shapes(tmp_path: Path) -> None:
    wrong = tmp_path / "asl300.ini"
    wrong.write_text((REPO / "configs" / "asl1000.ini").read_text())  # the widely copied 256/24 claim
    checkpoint = SHARED / "checkpoints" / "asl300" / "ckpt.pth"
    with pytest.raises(CheckpointError) as error:
        load_model(checkpoint, read_config(wrong), 300)
    message = str(error.value)
    assert str(checkpoint) in message
    assert "gc1.weight: expected (100, 256), found (100, 64)" in message
    assert "HIDDEN_SIZE=64, NUM_STAGES=20" in message


def test_wrong_class_count_is_reported() -> None:
    with pytest.raises(CheckpointError, match=r"fc_out.weight: expected \(300, 64\), found \(100, 64\)"):
        load_model(SHARED / "checkpoints" / "asl100" / "ckpt.pth", read_config(REPO / "configs" / "asl100.ini"), 300)


def test_truncated_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    data = (SHARED / "checkpoints" / "asl100" / "ckpt.pth").read_bytes()
    truncated = tmp_path / "ckpt.pth"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        read_state_dict(truncated)


def test_tampered_checkpoint_fails_sha256(tmp_path: Path) -> None:
    data = bytearray((SHARED / "checkpoints" / "asl100" / "ckpt.pth").read_bytes())
    expected = sha256_file(SHARED / "checkpoints" / "asl100" / "ckpt.pth")
    data[len(data) // 2] ^= 0xFF
    tampered = tmp_path / "ckpt.pth"
    tampered.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match the archive's recorded"):
        load_model(tampered, read_config(REPO / "configs" / "asl100.ini"), 100, expected_sha256=expected)


def test_pickled_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "payload": Path("/etc/passwd")}, path)
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        read_state_dict(path)


def test_hugging_face_wrappers_are_unwrapped(tmp_path: Path) -> None:
    released = read_state_dict(SHARED / "checkpoints" / "asl100" / "ckpt.pth")
    path = tmp_path / "pytorch_model.bin"
    torch.save({"state_dict": {f"module.{k}": v for k, v in released.items()}}, path)
    assert read_state_dict(path).keys() == released.keys()
    load_model(path, read_config(REPO / "configs" / "asl100.ini"), 100)


def test_incomplete_config_is_named(tmp_path: Path) -> None:
    path = tmp_path / "config.ini"
    path.write_text("[TRAIN]\nBATCH_SIZE = 64\n")
    with pytest.raises(ConfigError, match=r"missing \[TRAIN\] MAX_EPOCHS"):
        read_config(path)
