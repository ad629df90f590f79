"""scripts/tools/evaluate.py on the real clip (WLASL video 32162, 'language', a train video) and the real splits."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts.tools import evaluate
from scripts.serve.torchserve_ctl import TorchServe
from tests.conftest import CLIP, real_data

VIDEO = "32162"


@pytest.fixture(scope="module")
def wlasl_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """WLASL's layout with symlinks: WLASL_v0.3.json, the nslt split files, pose_per_individual_videos/32162."""
    real = real_data()
    root = tmp_path_factory.mktemp("wlasl_eval")
    (root / "WLASL_v0.3.json").symlink_to(real / "WLASL_v0.3.json")
    for k in (100, 300):
        (root / f"nslt_{k}.json").symlink_to(real / f"nslt_{k}.json")
    (root / "pose_per_individual_videos").mkdir()
    (root / "pose_per_individual_videos" / VIDEO).symlink_to(CLIP)
    return root


def test_split_labels_follow_the_checkpoint_class_order(wlasl_tree: Path) -> None:
    videos = evaluate.read_split(wlasl_tree / "nslt_100.json", wlasl_tree / "WLASL_v0.3.json", "asl100", "train")
    assert len(videos) == 1442
    [clip] = [video for video in videos if video.video_id == VIDEO]
    assert (clip.label, clip.start, clip.end) == (54, 1, 13)  # 'language' is class 54 of asl100
    counts = {split: len(evaluate.read_split(wlasl_tree / "nslt_100.json", wlasl_tree / "WLASL_v0.3.json",
                                             "asl100", split)) for split in ("val", "test", "all")}
    assert counts == {"val": 338, "test": 258, "all": 2038}


def test_frames_are_read_within_the_action_range(wlasl_tree: Path) -> None:
    pose_root = wlasl_tree / "pose_per_individual_videos"
    assert len(evaluate.read_frames(pose_root, evaluate.Video(VIDEO, 54, 1, 13))) == 13
    assert len(evaluate.read_frames(pose_root, evaluate.Video(VIDEO, 54, 3, 7))) == 5
    assert evaluate.read_frames(pose_root, evaluate.Video("00000", 0, 1, 10)) is None


def test_in_process_accuracy_on_the_real_clip(wlasl_tree: Path, model_store: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "report.json"
    code = evaluate.main(["--variant", "asl100", "--split", "train", "--data", str(wlasl_tree),
                          "--archive", str(model_store / "asl100.mar"), "--json", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert (report["videos"], report["evaluated"], report["missing"], report["failed"]) == (1442, 1, 1441, 0)
    assert report["top1"] == report["top5"] == report["top10"] == 1.0
    assert "1 of 1442 videos evaluated, 1441 missing" in capsys.readouterr().out


def test_through_torchserve_counts_a_miss(wlasl_tree: Path, server: TorchServe, tmp_path: Path) -> None:
    """asl300 through the live server; the clip relabelled as another gloss must count as a top-1 miss."""
    split = {VIDEO: {"subset": "test", "action": [43, 1, 13]},           # 43 = 'language' in WLASL order
             "99999": {"subset": "test", "action": [43, 1, 20]},          # no pose files: missing
             "32162x": {"subset": "val", "action": [0, 1, 13]}}           # another split: not counted
    split_file = tmp_path / "nslt_300.json"
    split_file.write_text(json.dumps(split))
    out = tmp_path / "report.json"
    args = ["--variant", "asl300", "--split", "test", "--data", str(wlasl_tree), "--split-file", str(split_file),
            "--url", server.inference_url, "--key-file", str(server.key_file), "--json", str(out), "--no-progress"]
    assert evaluate.main(args) == 0
    report = json.loads(out.read_text())
    assert (report["videos"], report["evaluated"], report["missing"], report["missing_ids"]) == (2, 1, 1, ["99999"])
    assert report["top1"] == 1.0
    split[VIDEO]["action"][0] = 0  # WLASL class 0 ('book'): the model still says 'language'
    split_file.write_text(json.dumps(split))
    assert evaluate.main(args) == 0
    assert json.loads(out.read_text())["top1"] == 0.0
