"""How framing moves the answer, measured on the real WLASL clips (docs/framing.md).

    python -m scripts.tools.framing --variant asl100 asl300 [--pose-root DIR] [--archive-dir model_store]

Each test clip of the split that has OpenPose frames under the pose root is transformed as a camera
would frame the signer differently, then classified in-process through the archive's handler as a
`frames` request, with framing "frame" (the points as given) and "body" (handlers/framing.py).
Points a transform moves out of the 256-pixel frame become missing, as an extractor reports nothing
outside the picture. Reported per condition: top-1 and top-5 against the labels and the share of
clips whose top-1 equals the as-recorded top-1 (framing "frame": the paper's preprocessing).
The clip list, labels and classifier are scripts/tools/evaluate.py's.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from handlers.framing import FRAMINGS, LEFT_HAND, RIGHT_HAND, present, unmirror
from handlers.keypoints import FRAME_SIZE, openpose_to_frames
from handlers.labels import variant_classes
from handlers.video import interpolate
from scripts.serve.torchserve_ctl import DEFAULT_STORE
from scripts.tools.evaluate import Classifier, Video, in_process, read_frames, read_split
from scripts.wlasl_data import data_root

CENTRE = FRAME_SIZE / 2
Transform = Callable[[np.ndarray], np.ndarray]


def in_frame(moved: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Moved points; missing where the original was missing or the point left the 256-pixel frame."""
    keep = present(original) & np.all((moved >= 0) & (moved <= FRAME_SIZE), axis=-1)
    return np.where(keep[..., None], moved, 0.0).astype(np.float32)


def scaled(sx: float, sy: float | None = None) -> Transform:
    """Scale about the frame centre (sy defaults to sx)."""
    factors = np.array([sx, sx if sy is None else sy])
    return lambda pixels: in_frame((pixels - CENTRE) * factors + CENTRE, pixels)


def shifted(dx: float, dy: float) -> Transform:
    return lambda pixels: in_frame(pixels + np.array([dx, dy]), pixels)


def hands_dropped(share: float, seed: int = 0) -> Transform:
    """Both hands missing in a random `share` of the frames (fixed seed per clip length)."""
    def drop(pixels: np.ndarray) -> np.ndarray:
        out = pixels.copy()
        frames = np.random.default_rng(seed).random(len(pixels)) < share
        out[frames, LEFT_HAND.start:RIGHT_HAND.stop] = 0.0
        return out
    return drop


def every_second_frame(pixels: np.ndarray) -> np.ndarray:
    """The video path with video_frame_stride 2: frames 0, 2, 4, ... and the last are extracted, the
    others interpolated (handlers/video.interpolate)."""
    indices = sorted({*range(0, len(pixels), 2), len(pixels) - 1})
    return np.stack(interpolate([pixels[i] for i in indices], indices))


@dataclass(frozen=True)
class Condition:
    name: str
    transform: Transform
    mirrored_flag: bool = False  # the request says mirrored: true


def aspect(width: float, height: float) -> tuple[Condition, Condition]:
    """A width:height camera frame around the recorded (square) view, squashed into 256x256 by x*256,
    y*256, and letterboxed (aspect kept, centred)."""
    factor = height / width
    label = f"{width:g}:{height:g}"
    return (Condition(f"{label} squashed (x*256, y*256)", scaled(factor, 1.0)),
            Condition(f"{label} letterboxed", scaled(factor)))


CONDITIONS = (
    Condition("as recorded", lambda pixels: pixels),
    *(Condition(f"scale {s:g}", scaled(s)) for s in (0.6, 0.8, 1.2, 1.5)),
    *(Condition(f"shift {name} {d:+d} px", shifted(d if name == "x" else 0, d if name == "y" else 0))
      for name in ("x", "y") for d in (-40, -20, 20, 40)),
    *aspect(4, 3), *aspect(16, 9),
    Condition("mirrored (selfie), not flagged", unmirror),
    Condition("mirrored (selfie), flagged mirrored: true", unmirror, mirrored_flag=True),
    Condition("hands dropped in 25% of frames", hands_dropped(0.25)),
    Condition("hands dropped in 50% of frames", hands_dropped(0.5)),
    Condition("landmarks of every 2nd frame, interpolated", every_second_frame),
)


def top1(answer: dict) -> int:
    if "error" in answer:
        raise RuntimeError(answer["error"])
    return answer["top_k"][0]["index"]


def measure(videos: list[tuple[Video, np.ndarray]], classify: Classifier) -> list[dict]:
    """One row per condition: for each framing, top-1, top-5 and agreement with the as-recorded top-1."""
    recorded = {video.video_id: top1(classify({"frames": pixels.tolist(), "framing": "frame"}))
                for video, pixels in videos}
    rows = []
    for condition in CONDITIONS:
        row = {"condition": condition.name}
        for framing in FRAMINGS:
            hits = np.zeros(3)
            for video, pixels in videos:
                body = {"frames": condition.transform(pixels).tolist(), "framing": framing, "top_k": 5}
                if condition.mirrored_flag:
                    body["mirrored"] = True
                answer = classify(body)
                ranked = [entry["index"] for entry in answer["top_k"]] if "top_k" in answer else [top1(answer)]
                hits += (ranked[0] == video.label, video.label in ranked, ranked[0] == recorded[video.video_id])
            row[framing] = hits / len(videos)
        rows.append(row)
    return rows


def table(variant: str, rows: list[dict], count: int) -> str:
    """The markdown table of one variant."""
    head = " | ".join(f"{framing} top-1 | {framing} top-5 | {framing} agrees" for framing in FRAMINGS)
    lines = [f"**{variant}**, {count} WLASL100 test clips (`framing` frame = points as given; body = body-anchored)",
             "", f"| condition | {head} |", "|---|" + "---:|" * (3 * len(FRAMINGS))]
    for row in rows:
        cells = " | ".join(f"{100 * value:.0f}%" for framing in FRAMINGS for value in row[framing])
        lines.append(f"| {row['condition']} | {cells} |")
    return "\n".join(lines)


def test_clips(variant: str, data: Path, pose_root: Path) -> list[tuple[Video, np.ndarray]]:
    """The split's test videos that have pose files, with their (T, 55, 2) pixels."""
    videos = read_split(data / f"nslt_{variant_classes(variant)}.json", data / "WLASL_v0.3.json", variant, "test")
    found = [(video, read_frames(pose_root, video)) for video in videos]
    return [(video, openpose_to_frames(frames)) for video, frames in found if frames is not None]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", nargs="+", default=["asl100", "asl300"])
    parser.add_argument("--data", type=Path, default=None, help="WLASL data directory (default: see README)")
    parser.add_argument("--pose-root", type=Path, help="default: <data>/pose")
    parser.add_argument("--archive-dir", type=Path, default=DEFAULT_STORE, help="holds <variant>.mar")
    args = parser.parse_args(argv)
    data = (args.data or data_root()).resolve()
    pose_root = args.pose_root or data / "pose"
    with tempfile.TemporaryDirectory(prefix="tgcn-framing-") as workdir:
        for variant in args.variant:
            archive = args.archive_dir / f"{variant}.mar"
            if not archive.is_file():
                print(f"error: {archive} not found: build it (make archives)", file=sys.stderr)
                return 1
            videos = test_clips(variant, data, pose_root)
            if not videos:
                print(f"error: no {variant} test clip has pose files under {pose_root}", file=sys.stderr)
                return 1
            rows = measure(videos, in_process(archive, Path(workdir) / variant))
            print(table(variant, rows, len(videos)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
