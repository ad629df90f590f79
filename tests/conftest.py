"""Shared fixtures: the real WLASL data in ../shared, a data tree with generated asl1000/asl2000
checkpoints, archives built from it, and one live TorchServe on free loopback ports.

Test tiers (markers in pyproject.toml) follow from the fixtures a test uses: a test that needs a
running TorchServe is `live`, one that needs built archives or the generated data tree is `slow`,
one that needs the video environment is `video`. `make test-unit` runs the rest with
TGCN_UNIT_TIER=1, under which starting TorchServe fails the test: an unmarked test cannot start Java."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scripts.serve.torchserve_ctl import Ports, TorchServe
from scripts.wlasl_data import data_root, reference_clip

SHARED = data_root()  # the WLASL data: WLASL_DATA, else data/wlasl/, else ../shared/data/wlasl/
TIER_FIXTURES = {
    "live": {"server", "video_server", "kserve", "kservev2", "torchserve", "gateway"},  # the last two: tests/web_support.py
    "slow": {"model_store", "data_tree", "wlasl_tree", "packed", "asl100_store"},
    "video": {"photo", "video_server"},
}
CLIP = reference_clip(SHARED)


def real_data() -> Path:
    """The real WLASL data (SHARED), failing the test where it lacks WLASL_v0.3.json."""
    if not (SHARED / "WLASL_v0.3.json").is_file():
        pytest.fail(f"WLASL data not found at {SHARED}; the tests need ../shared/data/wlasl or WLASL_DATA")
    return SHARED


@pytest.fixture(scope="session")
def clip_frames() -> list[dict]:
    """The OpenPose frames of WLASL video 32162 (gloss 'language')."""
    return [json.loads(path.read_text()) for path in sorted(CLIP.glob("image_*_keypoints.json"))]


@pytest.fixture(scope="session")
def data_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A WLASL data tree: the real json, clips (the ONNX export is checked against eager on them) and
    asl100/asl300 weights, generated (untrained) asl1000/asl2000 weights."""
    from scripts.archive.generated import mixed_data_tree

    return mixed_data_tree(real_data(), tmp_path_factory.mktemp("wlasl") / "data")


@pytest.fixture(scope="session")
def model_store(data_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All four archives, built by the project's build command."""
    from scripts.archive import build_archives

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test live / slow / video from the fixtures it uses (directly or through other fixtures)."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in TIER_FIXTURES.items():
            if used & fixtures:
                item.add_marker(marker)


@pytest.fixture(autouse=True, scope="session")
def _unit_tier_starts_no_java():
    """Under `make test-unit` (TGCN_UNIT_TIER=1) a test that starts TorchServe fails: mark it instead."""
    if os.environ.get("TGCN_UNIT_TIER") != "1":
        yield
        return
    original = TorchServe.spawn

    def refuse(self, *args, **kwargs):
        raise AssertionError("a unit-tier test started TorchServe: use the server fixture (marked live) instead")

    TorchServe.spawn = refuse
    yield
    TorchServe.spawn = original
