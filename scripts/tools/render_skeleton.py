"""Render a clip's 55 points as an animated skeleton (GIF or MP4): what the model sees.

    python -m scripts.tools.render_skeleton ../shared/data/wlasl/pose/32162 -o language.gif
    python -m scripts.tools.render_skeleton clip.pose -o clip.mp4 --fps 25
Inputs as scripts.client.predict takes them (OpenPose folder, .npy (T, 55, 2), .json body, .pose); a video
is first run through MediaPipe Holistic here (needs .venv-video/bin/python).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from handlers.errors import InputError
from handlers.keypoints import FRAME_SIZE, MAX_ABS_PIXEL, as_float_array, check_frames, openpose_to_frames
from handlers.mediapipe_map import mediapipe_to_frames, parse_image_size
from handlers.payload import Limits, decode_base64
from handlers.pose_file import pose_to_frames
from scripts.client.core import ClientError, extract_locally, load_input

# Edges of the 55-point layout: body (OpenPose BODY_25 0-8, 15-18 as slots 0-12), then each hand.
BODY_EDGES = ((0, 1), (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7), (1, 8), (0, 9), (9, 11), (0, 10), (10, 12))
HAND_EDGES = tuple((a, b) for finger in range(5) for a, b in zip([0] + [1 + 4 * finger + i for i in range(3)],
                                                                 [1 + 4 * finger + i for i in range(4)]))
EDGES = BODY_EDGES + tuple((13 + a, 13 + b) for a, b in HAND_EDGES) + tuple((34 + a, 34 + b) for a, b in HAND_EDGES)
COLOURS = {"body": (240, 200, 60), "left": (80, 200, 120), "right": (90, 150, 250)}
SIZE = int(FRAME_SIZE)


def clip_pixels(body: dict[str, Any], max_frames: int = Limits.max_frames) -> np.ndarray:
    """A request body (as scripts.client.predict builds it) -> (T, 55, 2) pixel points of the 256-pixel frame."""
    if "openpose_frames" in body:
        return openpose_to_frames(body["openpose_frames"])
    if "mediapipe_frames" in body:
        return mediapipe_to_frames(body["mediapipe_frames"],
                                   parse_image_size(body.get("image_width"), body.get("image_height")))
    if "pose_file" in body:
        return pose_to_frames(decode_base64(body["pose_file"], "pose_file"), max_frames)
    if "frames" in body:
        return check_frames(as_float_array(body["frames"], "frames", MAX_ABS_PIXEL), "frames")
    raise InputError("expected OpenPose frames, MediaPipe frames, a .pose file or a (T, 55, 2) array")


def draw(points: np.ndarray) -> Image.Image:
    """(55, 2) pixel points -> one 256 x 256 frame; points at (0, 0) are missing and not drawn."""
    image = Image.new("RGB", (SIZE, SIZE), (20, 20, 28))
    pen = ImageDraw.Draw(image)
    present = points.any(axis=1)
    for a, b in EDGES:
        if present[a] and present[b]:
            colour = COLOURS["body"] if b < 13 else COLOURS["left"] if b < 34 else COLOURS["right"]
            pen.line([tuple(points[a]), tuple(points[b])], fill=colour, width=2)
    for x, y in points[present]:
        pen.ellipse([x - 2, y - 2, x + 2, y + 2], fill=(250, 250, 250))
    return image


def render(pixels: np.ndarray, output: Path, fps: float) -> None:
    """(T, 55, 2) -> an animated .gif (Pillow) or .mp4 (PyAV, H.264)."""
    images = [draw(frame) for frame in pixels]
    if output.suffix.lower() == ".gif":
        images[0].save(output, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
        return
    if output.suffix.lower() != ".mp4":
        raise ClientError(f"{output}: expected a .gif or .mp4 output")
    import av

    with av.open(str(output), mode="w") as container:
        stream = container.add_stream("libx264", rate=round(fps))
        stream.width, stream.height, stream.pix_fmt = SIZE, SIZE, "yuv420p"
        for image in images:
            container.mux(stream.encode(av.VideoFrame.from_image(image)))
        container.mux(stream.encode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render a clip's 55 keypoints as an animated skeleton.")
    parser.add_argument("input", type=Path, help="OpenPose folder, .npy, .json body, .pose or video file")
    parser.add_argument("-o", "--output", type=Path, required=True, help="a .gif or .mp4 file")
    parser.add_argument("--fps", type=float, default=12.0)
    args = parser.parse_args(argv)
    try:
        body = load_input(args.input)
        body = extract_locally(args.input) if "video" in body else body
        pixels = clip_pixels(body)
        render(pixels, args.output, args.fps)
    except (ClientError, InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.input}: {len(pixels)} frames -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
