"""Checkpoints from a Hugging Face repository, without network: a hub cache and a snapshot built here."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from handlers.tgcn_model import sha256_file
from scripts.archive import hf_checkpoints
from scripts.wlasl_data import REPO, find_weights
from tests.conftest import real_data

REPO_ID = "wlasl/pose-tgcn"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def snapshot_tree(root: Path) -> Path:
    """checkpoints/aslN/{pytorch_model.bin,config.ini}: real asl100; asl300 with asl1000's config.ini."""
    for variant, config in (("asl100", "asl100"), ("asl300", "asl1000")):
        folder = root / "checkpoints" / variant
        folder.mkdir(parents=True)
        (folder / "pytorch_model.bin").symlink_to(real_data() / "checkpoints" / variant / "ckpt.pth")
        shutil.copyfile(REPO / "configs" / f"{config}.ini", folder / "config.ini")
    return root


def hub_cache(cache: Path) -> Path:
    """The hub's cache layout for REPO_ID at COMMIT, as `main`."""
    entry = cache / f"models--{REPO_ID.replace('/', '--')}"
    (entry / "refs").mkdir(parents=True)
    (entry / "refs" / "main").write_text(COMMIT)
    snapshot_tree(entry / "snapshots" / COMMIT)
    return cache


def run_offline(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf-home"))
    return subprocess.run([sys.executable, "-m", "scripts.archive.hf_checkpoints", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_offline_from_hub_cache_installs_checked_files(tmp_path: Path) -> None:
    cache, data = hub_cache(tmp_path / "cache"), tmp_path / "data"
    done = run_offline(tmp_path, "--repo-id", REPO_ID, "--cache-dir", str(cache), "--data", str(data),
                       "--variants", "asl100", "asl300")
    assert done.returncode == 1, done.stdout + done.stderr  # asl300's config.ini does not fit its weights
    assert "ok    asl100: HIDDEN_SIZE=64, NUM_STAGES=20, NUM_SAMPLES=50, 100 classes" in done.stdout
    assert "FAIL  asl300" in done.stderr and "HIDDEN_SIZE=256" in done.stderr
    weights = find_weights(data, "asl100")
    assert weights.checkpoint == data / "checkpoints" / "asl100" / "pytorch_model.bin"
    assert weights.config == data / "checkpoints" / "asl100" / "config.ini"
    assert sha256_file(weights.checkpoint) == sha256_file(real_data() / "checkpoints" / "asl100" / "ckpt.pth")
    assert find_weights(data, "asl300") is None


def test_offline_without_cached_files_says_so(tmp_path: Path) -> None:
    done = run_offline(tmp_path, "--repo-id", "someone/not-cached", "--cache-dir", str(tmp_path / "empty"),
                       "--data", str(tmp_path / "data"), "--variants", "asl100")
    assert done.returncode == 1 and "not in the local cache" in done.stderr
    assert not (tmp_path / "data").exists()


def test_from_local_snapshot(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    snapshot = snapshot_tree(tmp_path / "snapshot")
    data = tmp_path / "data"
    assert hf_checkpoints.main(["--snapshot", str(snapshot), "--data", str(data), "--variants", "asl100"]) == 0
    assert (data / "checkpoints" / "asl100" / "config.ini").read_text() == (REPO / "configs" / "asl100.ini").read_text()
    assert hf_checkpoints.main(["--snapshot", str(snapshot), "--data", str(data), "--variants", "asl1000"]) == 1
    assert "not in the snapshot" in capsys.readouterr().err
