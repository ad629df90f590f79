"""Extract MediaPipe Holistic landmarks from a video on this machine, so only keypoints are sent.

Needs MediaPipe, so run it with the video environment's Python:
    .venv-video/bin/python -m scripts.tools.extract_keypoints clip.mp4 -o clip.json   # {"mediapipe_frames": [...]}
    .venv/bin/python -m scripts.client.predict clip.json --model asl100
(or in one step: .venv-video/bin/python -m scripts.client.predict clip.mp4 --extract-locally).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from handlers.errors import InputError
from handlers.video import HolisticExtractor, VideoLimits, decode_frames


def landmark_list(part: np.ndarray | None) -> list[dict[str, float]] | None:
    """(N, 2) landmarks in [0, 1] -> [{"x", "y"}, ...] (None stays None)."""
    return None if part is None else [{"x": float(x), "y": float(y)} for x, y in part]


def extract(data: bytes, limits: VideoLimits = VideoLimits()) -> dict[str, Any]:
    """Video bytes -> a request body: mediapipe_frames (one object per frame) with the picture's
    image_width and image_height, so the server keeps its aspect ratio as the video path does."""
    size: list[int] = []

    def frames() -> Iterator[np.ndarray]:
        for rgb in decode_frames(data, limits):
            size[:] = [rgb.shape[1], rgb.shape[0]]
            yield rgb
    landmarks = [{"pose": landmark_list(pose), "left_hand": landmark_list(left), "right_hand": landmark_list(right)}
                 for pose, left, right in HolisticExtractor().landmarks(frames())]
    return {"mediapipe_frames": landmarks, "image_width": size[0], "image_height": size[1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Video -> MediaPipe Holistic landmarks as a request body.")
    parser.add_argument("video", type=Path, help="an mp4, webm or avi file")
    parser.add_argument("-o", "--output", type=Path, help="JSON file to write (default: stdout)")
    args = parser.parse_args(argv)
    try:
        body = extract(args.video.read_bytes())
    except (InputError, OSError) as exc:
        print(f"error: {args.video}: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(body)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"{args.video}: {len(body['mediapipe_frames'])} frames -> {args.output}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
