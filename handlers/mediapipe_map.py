"""MediaPipe Holistic landmarks -> the model's 55-point layout (pure numpy, no MediaPipe import).

MediaPipe reports x, y in [0, 1] of the image; the model was trained on pixels of a 256-pixel frame.
With the image's size (`image_width`, `image_height` beside `mediapipe_frames`) the image is fitted
into the 256-pixel square keeping its aspect ratio (letterboxed: a 16:9 frame keeps its proportions
and is centred vertically); without it x and y are both multiplied by 256, which squashes a
non-square image. A part Holistic did not find (no pose, no left or right hand) becomes
(0, 0), as OpenPose writes missing points. Left and right are the person's, as Holistic reports them.

| 55-point index | OpenPose BODY_25 name | MediaPipe source                        |
|----------------|-----------------------|-----------------------------------------|
| 0              | Nose                  | pose 0 (nose)                           |
| 1              | Neck                  | mean of pose 11, 12 (shoulders)         |
| 2, 3, 4        | RShoulder/RElbow/RWrist | pose 12, 14, 16                       |
| 5, 6, 7        | LShoulder/LElbow/LWrist | pose 11, 13, 15                       |
| 8              | MidHip                | mean of pose 23, 24 (hips)              |
| 9, 10          | REye, LEye            | pose 5, 2                               |
| 11, 12         | REar, LEar            | pose 8, 7                               |
| 13 .. 33       | left hand 0..20       | left hand 0..20                         |
| 34 .. 54       | right hand 0..20      | right hand 0..20                        |

A mean uses only the points of its pair that are present (not at (0, 0)); with neither it is (0, 0).
Holistic also guesses landmarks outside the picture (x or y outside [0, 1], typically the hips of a
signer filmed from the waist up); OpenPose reports no such points, so they are missing too.

As JSON (the `mediapipe_frames` request field), one object per frame:
    {"pose": [{"x": .., "y": .., "z": .., "visibility": ..} * 33] | null,
     "left_hand": [{"x": .., "y": ..} * 21] | null, "right_hand": [...] | null, "face": ignored}
A frame where Holistic found nothing repeats the previous frame, as for OpenPose.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from handlers.errors import InputError
from handlers.keypoints import FRAME_SIZE, HAND_POINTS, fill_empty_frames

POSE_POINTS = 33
FRAME_PARTS = {"pose": POSE_POINTS, "left_hand": HAND_POINTS, "right_hand": HAND_POINTS}
IGNORED_PARTS = ("face",)
# Body slots 0..12 of the 55-point layout: a MediaPipe pose index, or a pair to average.
BODY_SOURCES: tuple[int | tuple[int, int], ...] = (0, (11, 12), 12, 14, 16, 11, 13, 15, (23, 24), 5, 2, 8, 7)
NUM_BODY = len(BODY_SOURCES)


def _mean_present(points: np.ndarray) -> np.ndarray:
    """Mean of the points that are not (0, 0); (0, 0) if none is."""
    present = np.any(points != 0, axis=-1)
    if not present.any():
        return np.zeros(2, dtype=np.float32)
    return points[present].mean(axis=0)


def body_points(pose: np.ndarray | None) -> np.ndarray:
    """(33, 2) MediaPipe pose points in pixels (or None) -> (13, 2) BODY_25 points 0-8, 15-18."""
    if pose is None:
        return np.zeros((NUM_BODY, 2), dtype=np.float32)
    return np.stack([_mean_present(pose[list(source)]) if isinstance(source, tuple) else pose[source]
                     for source in BODY_SOURCES]).astype(np.float32)


ImageSize = tuple[int, int]  # (width, height) in pixels
MAX_IMAGE_SIDE = 16384


def image_mapping(image_size: ImageSize | None) -> tuple[np.ndarray, np.ndarray]:
    """(scale, offset) per axis taking [0, 1] image coordinates to pixels of the 256-pixel frame:
    aspect-preserving and centred with a size, x*256 and y*256 without one."""
    if image_size is None:
        return np.full(2, FRAME_SIZE, dtype=np.float32), np.zeros(2, dtype=np.float32)
    size = np.asarray(image_size, dtype=np.float32)
    fitted = size * np.float32(FRAME_SIZE / size.max())
    return fitted, (np.float32(FRAME_SIZE) - fitted) / 2


def holistic_to_points(pose: np.ndarray | None, left_hand: np.ndarray | None, right_hand: np.ndarray | None,
                       image_size: ImageSize | None = None) -> np.ndarray:
    """One frame's Holistic parts, (33, 2), (21, 2), (21, 2) x, y in [0, 1] or None where not found
    -> (55, 2) pixel points of the 256-pixel frame (see image_mapping)."""
    scale, offset = image_mapping(image_size)

    def pixels(part: np.ndarray | None, count: int) -> np.ndarray:
        if part is None:
            return np.zeros((count, 2), dtype=np.float32)
        part = np.asarray(part, dtype=np.float32)
        outside = ((part < 0) | (part > 1)).any(axis=1, keepdims=True)
        return np.where(outside, np.float32(0), part * scale + offset)

    body = body_points(None if pose is None else pixels(pose, POSE_POINTS))
    return np.concatenate([body, pixels(left_hand, HAND_POINTS), pixels(right_hand, HAND_POINTS)])


def _landmarks(value: Any, count: int, where: str) -> np.ndarray | None:
    """A JSON list of `count` landmarks {"x", "y", ...} (or null / [] when not found) -> (count, 2) or None."""
    if value is None or (isinstance(value, list) and not value):
        return None
    if not isinstance(value, list) or len(value) != count:
        got = f"{len(value)} landmarks" if isinstance(value, list) else type(value).__name__
        raise InputError(f"{where} must be null or a list of {count} landmarks {{x, y, z, visibility}}, got {got}")
    try:
        array = np.array([[point["x"], point["y"]] for point in value], dtype=np.float32)
    except (TypeError, KeyError, ValueError):
        raise InputError(f"{where} must hold landmark objects with numeric x and y") from None
    if not np.isfinite(array).all():
        raise InputError(f"{where} contains NaN or infinite values")
    return array


def mediapipe_frame_points(frame: Any, index: int = 0, image_size: ImageSize | None = None) -> np.ndarray | None:
    """One Holistic frame {"pose", "left_hand", "right_hand"} -> (55, 2) pixel points, or None if nothing was found."""
    where = f"mediapipe_frames[{index}]"
    if not isinstance(frame, dict):
        raise InputError(f"{where} must be an object with {', '.join(FRAME_PARTS)} landmark lists")
    unknown = sorted(set(frame) - set(FRAME_PARTS) - set(IGNORED_PARTS))
    if unknown:
        raise InputError(f"{where} has unknown field(s) {', '.join(map(repr, unknown))}; expected "
                         f"{', '.join(FRAME_PARTS)} (and optionally {', '.join(IGNORED_PARTS)}, which is ignored)")
    parts = [_landmarks(frame.get(name), count, f"{where}.{name}") for name, count in FRAME_PARTS.items()]
    if all(part is None for part in parts):
        return None
    return holistic_to_points(*parts, image_size=image_size)


def parse_image_size(width: Any, height: Any) -> ImageSize | None:
    """The optional `image_width` / `image_height` request fields -> (width, height), None if both absent."""
    if width is None and height is None:
        return None
    for name, value in (("image_width", width), ("image_height", height)):
        if value is None:
            raise InputError("image_width and image_height go together: give both or neither")
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_IMAGE_SIDE:
            raise InputError(f"{name} must be an integer number of pixels in 1..{MAX_IMAGE_SIDE}, got {value!r:.40}")
    return width, height


def mediapipe_to_frames(frames: Any, image_size: ImageSize | None = None) -> np.ndarray:
    """MediaPipe Holistic frames (JSON) of an image of `image_size` -> (T, 55, 2) pixel points
    (frames with no person: see fill_empty_frames)."""
    if not isinstance(frames, list) or not frames:
        raise InputError("mediapipe_frames must be a non-empty list of Holistic frame objects")
    return fill_empty_frames([mediapipe_frame_points(frame, index, image_size) for index, frame in enumerate(frames)],
                             "MediaPipe frames")
