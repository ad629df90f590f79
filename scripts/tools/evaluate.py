"""Top-1/5/10 accuracy of a variant over a WLASL split, in-process or through a running TorchServe.

    python -m scripts.tools.evaluate --variant asl100 --split test \
        --split-file WLASL/nslt_100.json --pose-root WLASL/pose_per_individual_videos
    python -m scripts.tools.evaluate ... --url http://127.0.0.1:8080 --key-file run/key_file.json

The split file is WLASL's `nslt_K.json` ({video_id: {"subset", "action": [class, start, end]}}, class
in WLASL_v0.3.json order); the ground-truth gloss is mapped to the checkpoint's class order. Each
video is read from `<pose-root>/<video_id>/image_*_keypoints.json`, frames start..end (1-based).
Videos without pose files are counted as missing and left out of the accuracy.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from tqdm import tqdm

from handlers.labels import glosses_from_wlasl, variant_classes
from scripts.serve import inprocess
from scripts.client.core import ClientError, DEFAULT_RUN_DIR, Endpoint, read_token
from scripts.client import HttpClient
from scripts.serve.torchserve_ctl import DEFAULT_STORE
from scripts.wlasl_data import data_root

TOP_K = (1, 5, 10)
FRAME_NUMBER = re.compile(r"image_(\d+)_keypoints\.json$")


@dataclass(frozen=True)
class Video:
    """One video of the split: its id, its class in the checkpoint's order, its 1-based frame range."""

    video_id: str
    label: int
    start: int
    end: int


@dataclass
class Report:
    """Counts and accuracies of one evaluation run."""

    variant: str
    split: str
    videos: int = 0
    evaluated: int = 0
    missing: int = 0
    failed: int = 0
    correct: dict[int, int] = field(default_factory=lambda: {k: 0 for k in TOP_K})
    missing_ids: list[str] = field(default_factory=list)

    def accuracy(self) -> dict[str, float | None]:
        return {f"top{k}": (self.correct[k] / self.evaluated if self.evaluated else None) for k in TOP_K}

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("correct")
        data["missing_ids"] = self.missing_ids[:20]
        return {**data, **self.accuracy()}


def read_split(split_file: Path, wlasl_json: Path, variant: str, split: str) -> list[Video]:
    """The videos of `split` ("train", "val", "test" or "all"), labelled in the checkpoint's class order."""
    entries = json.loads(wlasl_json.read_text(encoding="utf-8"))
    classes = glosses_from_wlasl(wlasl_json, variant_classes(variant))
    index = {gloss: i for i, gloss in enumerate(classes)}
    videos = []
    for video_id, info in json.loads(split_file.read_text(encoding="utf-8")).items():
        if split != "all" and info["subset"] != split:
            continue
        wlasl_class, start, end = info["action"]
        gloss = entries[wlasl_class]["gloss"]
        if gloss not in index:
            raise ValueError(f"{split_file}: video {video_id} is '{gloss}', not one of {variant}'s classes")
        videos.append(Video(video_id, index[gloss], int(start), int(end)))
    return sorted(videos, key=lambda video: video.video_id)


def read_frames(pose_root: Path, video: Video) -> list[dict] | None:
    """The OpenPose frames start..end of one video, or None when it has no pose files there."""
    folder = pose_root / video.video_id
    files = {}
    for path in folder.glob("image_*_keypoints.json") if folder.is_dir() else ():
        number = int(FRAME_NUMBER.search(path.name).group(1))
        if video.start <= number <= video.end:
            files[number] = path
    if not files:
        return None
    return [json.loads(files[number].read_text(encoding="utf-8")) for number in sorted(files)]


Classifier = Callable[[dict[str, Any]], dict[str, Any]]


def evaluate(videos: list[Video], pose_root: Path, classify: Classifier, report: Report,
             progress: bool = True) -> Report:
    """Classify every video that has pose files and count top-k hits into `report`."""
    report.videos = len(videos)
    for video in tqdm(videos, desc=f"{report.variant} {report.split}", unit="video", disable=not progress):
        frames = read_frames(pose_root, video)
        if frames is None:
            report.missing += 1
            report.missing_ids.append(video.video_id)
            continue
        answer = classify({"openpose_frames": frames, "top_k": max(TOP_K)})
        if "error" in answer:
            report.failed += 1
            tqdm.write(f"video {video.video_id}: {answer['error']}", file=sys.stderr)
            continue
        ranked = [entry["index"] for entry in answer["top_k"]]
        report.evaluated += 1
        for k in TOP_K:
            report.correct[k] += video.label in ranked[:k]
    return report


def in_process(archive: Path, workdir: Path) -> Classifier:
    """A classifier running the archive's handler in this process."""
    handler = inprocess.open_handler(archive, workdir, batch_size=1)
    return lambda body: inprocess.classify(handler, [body])[0]


def through_server(endpoint: Endpoint, model: str) -> Classifier:
    """A classifier sending each video to a running TorchServe."""
    client = HttpClient(endpoint, timeout=120)

    def classify(body: dict[str, Any]) -> dict[str, Any]:
        try:
            return client.predict(model, body)
        except ClientError as exc:
            return {"error": str(exc)}
    return classify


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="asl100")
    parser.add_argument("--split", default="test", choices=("train", "val", "test", "all"))
    parser.add_argument("--data", type=Path, default=None, help="WLASL data directory (default: see README)")
    parser.add_argument("--split-file", type=Path, help="nslt_K.json (default: <data>/nslt_<K>.json)")
    parser.add_argument("--pose-root", type=Path, help="default: <data>/pose_per_individual_videos")
    parser.add_argument("--archive", type=Path, help="in-process: the .mar (default: model_store/<variant>.mar)")
    parser.add_argument("--url", help="evaluate through this TorchServe inference address instead")
    parser.add_argument("--key-file", type=Path, default=DEFAULT_RUN_DIR / "key_file.json")
    parser.add_argument("--json", type=Path, help="also write the report as JSON to this file")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    data = (args.data or data_root()).resolve()
    split_file = args.split_file or data / f"nslt_{variant_classes(args.variant)}.json"
    pose_root = args.pose_root or data / "pose_per_individual_videos"
    if not pose_root.is_dir():
        print(f"error: pose root {pose_root} is not a directory", file=sys.stderr)
        return 1
    videos = read_split(split_file, data / "WLASL_v0.3.json", args.variant, args.split)
    report = Report(args.variant, args.split)
    with tempfile.TemporaryDirectory(prefix="tgcn-eval-") as workdir:
        if args.url:
            try:
                read_token(args.key_file)
                endpoint = replace(Endpoint.from_config(key_file=args.key_file), inference_url=args.url)
                classify = through_server(endpoint, args.variant)
            except ClientError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
        else:
            archive = args.archive or DEFAULT_STORE / f"{args.variant}.mar"
            if not archive.is_file():
                print(f"error: {archive} not found: build it (make archives) or pass --archive", file=sys.stderr)
                return 1
            classify = in_process(archive, Path(workdir))
        evaluate(videos, pose_root, classify, report, progress=not args.no_progress)
    summary = report.summary()
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    accuracy = "  ".join(f"top-{k} {summary[f'top{k}']:.4f}" if report.evaluated else f"top-{k} n/a" for k in TOP_K)
    print(f"{args.variant} {args.split}: {report.evaluated} of {report.videos} videos evaluated, "
          f"{report.missing} missing (no pose files), {report.failed} failed\n{accuracy}")
    return 0 if report.evaluated else 1


if __name__ == "__main__":
    sys.exit(main())
