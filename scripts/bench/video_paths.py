"""Video extraction paths side by side (`make bench-video`): MediaPipe Holistic against the legacy
Pose + Hands solutions, at several input resolutions and tracking settings, in one run.

    .venv-video/bin/python -m scripts.bench.video_paths [--frames 90] [--rounds 3]

Footage: no video of a signer exists here, so the clips are generated from a real photograph
(Grace Hopper, matplotlib's sample data) sliding across a 640x480 and a 320x240 canvas; the photo
shows head and shoulders, no hands, so the landmark agreement covers the 13 body points only.
Each configuration runs the server's video steps that cost time: decode_frames (PyAV, scaled to the
longer side), the extractor's landmarks and the mapping (framing, windows and the TGCN forward take
about a millisecond per clip and are left out); configurations alternate within each round, and
the median over rounds is reported, with the ratio to today's server path (Holistic, longer side
640), in wall-clock frames per second and in CPU time per frame (all threads; steadier than wall
time on a shared machine). Agreement: per frame where both found a pose, the distance of each point to today's path's,
in pixels of the 256 frame, over the points the photo shows (nose, neck, shoulders, eyes, ears).
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np

from handlers.video import HolisticExtractor, PoseHandsExtractor, VideoLimits


# The 55-point slots the photo shows: nose, neck, shoulders, eyes, ears (its elbows, wrists and hips
# are outside the picture, where MediaPipe only guesses).
SHOWN = [0, 1, 2, 5, 9, 10, 11, 12]


@dataclass(frozen=True)
class Config:
    name: str
    extractor: str  # holistic | pose_hands
    max_side: int
    static: bool = False  # static_image_mode: detect on every frame, no tracking
    hand_complexity: int = 0
    stride: int = 1  # landmarks on every stride-th frame, interpolated between


CONFIGS = (
    Config("Holistic, max side 640 (today)", "holistic", 640),
    Config("Holistic, max side 320", "holistic", 320),
    Config("Holistic, every 2nd frame", "holistic", 640, stride=2),
    Config("Pose + Hands lite", "pose_hands", 640),
    Config("Pose + Hands lite, max side 320", "pose_hands", 320),
    Config("Pose + Hands full", "pose_hands", 640, hand_complexity=1),
    Config("Pose + Hands lite, no tracking", "pose_hands", 640, static=True),
    Config("Pose + Hands lite, every 2nd frame", "pose_hands", 640, stride=2),
)


def extractor_for(config: Config) -> HolisticExtractor:
    if config.extractor == "holistic":
        extractor = HolisticExtractor()
        if config.static:
            extractor._options["static_image_mode"] = True
        return extractor
    extractor = PoseHandsExtractor(hand_complexity=config.hand_complexity)
    if config.static:
        extractor._pose_options["static_image_mode"] = extractor._hands_options["static_image_mode"] = True
    return extractor


def footage(width: int, height: int, frames: int) -> bytes:
    """The photograph sliding left and right on a width x height canvas, H.264 in memory."""
    import av
    import matplotlib.cbook
    from PIL import Image

    photo = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
    photo = photo.resize((round(height * 0.71), round(height * 0.83)))
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for t in range(frames):
            canvas = Image.new("RGB", (width, height), (200, 200, 190))
            canvas.paste(photo, (width // 8 + round(width / 10 * np.sin(t / 6)), height // 8))
            output.mux(stream.encode(av.VideoFrame.from_image(canvas)))
        output.mux(stream.encode())
    return buffer.getvalue()


def run(config: Config, data: bytes) -> tuple[float, float, np.ndarray]:
    """Wall and CPU seconds (all of this process's threads) for decode + landmarks + mapping of the
    clip (the extractor's clip_points, as the server calls it), and the (T, 55, 2) points."""
    limits = VideoLimits(max_frames=10_000, max_side=config.max_side, stride=config.stride)
    extractor = extractor_for(config)
    start, cpu = time.perf_counter(), time.process_time()
    points = extractor.clip_points(data, limits)
    return time.perf_counter() - start, time.process_time() - cpu, points


def agreement(points: np.ndarray, reference: np.ndarray) -> str:
    """Distance of the points the photo shows (SHOWN) to the reference's, pixels of the 256 frame:
    mean / 95th percentile / max."""
    if len(points) != len(reference):
        return f"{len(points)} frames against {len(reference)}"
    both = points[:, SHOWN].any(axis=-1) & reference[:, SHOWN].any(axis=-1)
    if not both.any():
        return "no common pose"
    flat = np.linalg.norm(points[:, SHOWN] - reference[:, SHOWN], axis=-1)[both]
    return f"{flat.mean():.1f} / {np.percentile(flat, 95):.1f} / {flat.max():.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    for width, height in ((640, 480), (320, 240)):
        data = footage(width, height, args.frames)
        wall: dict[str, list[float]] = {config.name: [] for config in CONFIGS}
        cpu: dict[str, list[float]] = {config.name: [] for config in CONFIGS}
        points: dict[str, np.ndarray] = {}
        for _ in range(args.rounds):
            for config in CONFIGS:
                elapsed, used, points[config.name] = run(config, data)
                wall[config.name].append(elapsed)
                cpu[config.name].append(used)
        base_wall, base_cpu = (statistics.median(times[CONFIGS[0].name]) for times in (wall, cpu))
        reference = points[CONFIGS[0].name]
        print(f"\n{width}x{height} clip, {args.frames} frames, median of {args.rounds} rounds\n")
        print("| path | fps (wall) | x today | CPU ms per frame | x today (CPU) | frames with pose | with a hand "
              "| visible body points vs today (mean / p95 / max px) |")
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        for config in CONFIGS:
            seconds, used = statistics.median(wall[config.name]), statistics.median(cpu[config.name])
            found = points[config.name]
            with_pose = int(found[:, :13].any(axis=(1, 2)).sum())
            with_hand = int(found[:, 13:].any(axis=(1, 2)).sum())
            print(f"| {config.name} | {args.frames / seconds:.1f} | {base_wall / seconds:.2f} | "
                  f"{1000 * used / args.frames:.1f} | {base_cpu / used:.2f} | {with_pose}/{len(found)} | "
                  f"{with_hand} | {agreement(found, reference)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
