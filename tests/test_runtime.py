"""The fast runtime: ONNX export checked against eager at build time, eager still selectable, and the
served ONNX Runtime answers equal to eager PyTorch through a live TorchServe."""
from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import requests
import torch
import yaml

from handlers.keypoints import frames_to_windows, openpose_to_frames
from handlers.runtime import ONNX_FILE, OnnxRuntime, runtime_name
from handlers.tgcn_handler import TGCNHandler
from handlers.tgcn_config import read_config
from handlers.tgcn_model import load_model
from scripts.archive import build_archives, export_onnx
from scripts.serve.inprocess import archive_context
from scripts.serve.torchserve_ctl import TorchServe
from scripts.wlasl_data import REPO
from tests.conftest import SHARED
from tests.test_handler import run

ASL100 = SHARED / "checkpoints" / "asl100" / "ckpt.pth"


def eager_probabilities(checkpoint: Path, variant_ini: str, classes: int, frames: list[dict]) -> torch.Tensor:
    """Softmax of the window-averaged eager logits, computed here from the checkpoint."""
    config = read_config(REPO / "configs" / variant_ini)
    model = load_model(checkpoint, config, classes)
    windows = torch.from_numpy(frames_to_windows(openpose_to_frames(frames), config.num_samples))
    with torch.inference_mode():
        return torch.softmax(model(windows).mean(dim=0).double(), dim=-1)


def all_probabilities(server: TorchServe, target: str, frames: list[dict], classes: int) -> torch.Tensor:
    response = requests.post(f"{server.inference_url}/predictions/{target}", headers=server.headers(),
                             json={"openpose_frames": frames, "top_k": classes}, timeout=60)
    assert response.status_code == 200, response.text
    by_index = {entry["index"]: entry["probability"] for entry in response.json()["top_k"]}
    return torch.tensor([by_index[i] for i in range(classes)], dtype=torch.float64)


def test_archives_record_and_ship_the_onnx_model(model_store: Path) -> None:
    for variant in ("asl100", "asl2000"):
        with zipfile.ZipFile(model_store / f"{variant}.mar") as archive:
            handler = yaml.safe_load(archive.read("model-config.yaml"))["handler"]
            assert handler["runtime"] == "onnx" and len(handler["onnx_sha256"]) == 64
            assert ONNX_FILE in archive.namelist()


@pytest.mark.slow  # exports ONNX and checks parity on every real clip
def test_onnx_matches_eager_on_real_and_random_inputs(tmp_path: Path) -> None:
    model = load_model(ASL100, read_config(REPO / "configs" / "asl100.ini"), 100)
    export_onnx.export(model, tmp_path / ONNX_FILE, 100)
    inputs = export_onnx.parity_inputs(export_onnx.clip_pixels(SHARED), 50)
    assert {"real clip 0", "random batch 1", "random batch 32"} <= set(inputs)
    assert export_onnx.check_parity(model, OnnxRuntime(tmp_path / ONNX_FILE), inputs) <= 1e-4
    with torch.no_grad():
        model.fc_out.bias[3] += 1e-3  # eager drifts from the exported file: refused
    with pytest.raises(export_onnx.ParityError, match="differ from eager by .* on real clip 0"):
        export_onnx.check_parity(model, OnnxRuntime(tmp_path / ONNX_FILE), inputs)


def test_build_refuses_an_export_that_does_not_match(data_tree: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture) -> None:
    real_export = export_onnx.export

    def drifted(model: torch.nn.Module, path: Path, input_feature: int) -> None:
        with torch.no_grad():
            model.gc1.weight.mul_(1.01)
        real_export(model, path, input_feature)
        with torch.no_grad():
            model.gc1.weight.div_(1.01)

    monkeypatch.setattr(export_onnx, "export", drifted)
    code = build_archives.main(["--data", str(data_tree), "--export-path", str(tmp_path / "store"),
                                "--build-dir", str(tmp_path / "build"), "--variants", "asl100"])
    assert code == 1 and not list((tmp_path / "store").glob("*.mar"))
    assert "FAIL  asl100: onnx logits differ from eager" in capsys.readouterr().err


def test_build_needs_a_real_clip_for_the_check(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "data"
    (root / "checkpoints" / "asl100").mkdir(parents=True)
    (root / "WLASL_v0.3.json").symlink_to(SHARED / "WLASL_v0.3.json")
    (root / "checkpoints" / "asl100" / "ckpt.pth").symlink_to(ASL100)
    code = build_archives.main(["--data", str(root), "--export-path", str(tmp_path / "store"),
                                "--build-dir", str(tmp_path / "build"), "--variants", "asl100"])
    assert code == 1 and "no real OpenPose clip found" in capsys.readouterr().err
    code = build_archives.main(["--data", str(root), "--export-path", str(tmp_path / "store"),
                                "--build-dir", str(tmp_path / "build"), "--variants", "asl100", "--runtime", "eager"])
    assert code == 0


def test_unknown_runtime_is_refused() -> None:
    assert runtime_name({}) == "eager" and runtime_name({"runtime": "onnx"}) == "onnx"
    with pytest.raises(ValueError, match="handler.runtime = 'tensorrt'; expected one of eager, onnx, onnx-int8"):
        runtime_name({"runtime": "tensorrt"})


def test_served_onnx_equals_eager_and_eager_stays_selectable(server: TorchServe, model_store: Path, data_tree: Path,
                                                             clip_frames: list[dict], tmp_path: Path) -> None:
    """asl100 v1.0 (ONNX Runtime) and v2.0 built with --runtime eager, side by side in one live server."""
    code = build_archives.main(["--data", str(data_tree), "--export-path", str(tmp_path / "store"),
                                "--build-dir", str(tmp_path / "build"), "--variants", "asl100", "--version", "2.0",
                                "--runtime", "eager"])
    assert code == 0
    eager_mar = model_store / "asl100-eager.mar"
    shutil.copy(tmp_path / "store" / "asl100.mar", eager_mar)
    management = {"url": server.management_url, "headers": server.headers("management")}
    try:
        response = requests.post(f"{management['url']}/models", headers=management["headers"], timeout=120,
                                 params={"url": eager_mar.name, "initial_workers": 1, "synchronous": "true"})
        assert response.status_code == 200, response.text
        fast = all_probabilities(server, "asl100", clip_frames, 100)
        eager = all_probabilities(server, "asl100/2.0", clip_frames, 100)
    finally:
        requests.delete(f"{management['url']}/models/asl100/2.0", headers=management["headers"], timeout=60)
        eager_mar.unlink()
    expected = eager_probabilities(ASL100, "asl100.ini", 100, clip_frames)
    torch.testing.assert_close(fast, expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(eager, expected, atol=1e-4, rtol=0)
    assert int(np.argmax(fast.numpy())) == 54  # "language"
    log = (server.run_dir / "logs" / "model_log.log").read_text(errors="replace")
    assert "loaded asl100 v1.0" in log and "runtime onnx" in log and "loaded asl100 v2.0" in log
    assert any("loaded asl100 v2.0" in line and "runtime eager on cpu" in line for line in log.splitlines())


def test_int8_is_opt_in_prints_its_agreement_and_still_answers(data_tree: Path, tmp_path: Path, clip_frames: list[dict],
                                                               capsys: pytest.CaptureFixture) -> None:
    code = build_archives.main(["--data", str(data_tree), "--export-path", str(tmp_path / "store"),
                                "--build-dir", str(tmp_path / "build"), "--variants", "asl100", "--runtime", "onnx-int8"])
    assert code == 0
    printed = re.search(r"int8 vs eager: (.*)$", capsys.readouterr().out, re.M)
    handler = TGCNHandler()
    handler.initialize(archive_context(tmp_path / "store" / "asl100.mar", tmp_path / "unpacked", 1))
    assert handler.runtime.name == "onnx-int8"
    # The printed figure is what the packaged int8 model measures against eager on the real clips'
    # jittered windows (98.6% top-1 on the 13 clips in ../shared: docs/performance.md).
    clips = export_onnx.clip_pixels(data_tree)
    measured = export_onnx.agreement(load_model(ASL100, read_config(REPO / "configs" / "asl100.ini"), 100),
                                     OnnxRuntime(tmp_path / "unpacked" / ONNX_FILE),
                                     export_onnx.jittered_windows(clips, 50))
    assert printed is not None and printed.group(1) == str(measured)
    assert measured.samples == len(clips) * (1 + export_onnx.JITTER_COPIES) * 4 and len(clips) >= 13
    assert measured.top1 >= 0.95 and measured.top5 >= 0.95
    [body] = run(handler, [{"body": {"openpose_frames": clip_frames}}])
    assert json.loads(body)["top_k"][0]["gloss"] == "language"


@pytest.mark.parametrize("variant", ["asl100", "asl2000"])
def test_served_batching_is_the_configured_one(server: TorchServe, variant: str) -> None:
    """TorchServe silently replaces a model-config maxBatchDelay of 0 with 100 ms: check what it really uses."""
    wanted = yaml.safe_load((REPO / "configs" / f"{variant}.yaml").read_text())
    response = requests.get(f"{server.management_url}/models/{variant}", headers=server.headers("management"), timeout=30)
    [described] = response.json()
    for key in ("batchSize", "maxBatchDelay", "minWorkers", "maxWorkers"):
        assert described[key] == wanted[key], key
    assert len(described["workers"]) == wanted["minWorkers"]


def test_derived_archive_changes_only_its_settings(model_store: Path, tmp_path: Path) -> None:
    """scripts/archive/derive.py (A/B benchmark, served GPU check): another name, some settings, the same files."""
    from scripts.archive.derive import derive_archive
    from scripts.serve.inprocess import open_handler

    source = model_store / "asl2000.mar"
    name = derive_archive(source, tmp_path, "asl2000_nospin", {"batchSize": 16, "handler.intra_op_spinning": False})
    with zipfile.ZipFile(tmp_path / name) as derived, zipfile.ZipFile(source) as original:
        assert json.loads(derived.read("MAR-INF/MANIFEST.json"))["model"]["modelName"] == "asl2000_nospin"
        before, after = (yaml.safe_load(archive.read("model-config.yaml")) for archive in (original, derived))
        assert after["batchSize"] == 16 and after["handler"].pop("intra_op_spinning") is False
        assert {**before, "batchSize": 16} == after
        same = set(original.namelist()) - {"MAR-INF/MANIFEST.json", "model-config.yaml"}
        assert same and all(original.read(item) == derived.read(item) for item in same)
    spins = {archive.stem: open_handler(archive, tmp_path / archive.stem).runtime.session.get_session_options()
             .get_session_config_entry("session.intra_op.allow_spinning") for archive in (source, tmp_path / name)}
    assert spins == {"asl2000": "1", "asl2000_nospin": "0"}
