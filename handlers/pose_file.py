"""pose-format `.pose` files -> the model's 55-point layout.

The header names the components; two layouts are understood (the first person of each frame is used):
- MediaPipe Holistic (pose-format's `holistic` utility): POSE_LANDMARKS (33), LEFT_HAND_LANDMARKS (21),
  RIGHT_HAND_LANDMARKS (21); other components (FACE_LANDMARKS, POSE_WORLD_LANDMARKS) are ignored.
  Mapped as in handlers/mediapipe_map.py.
- OpenPose (pose-format's `openpose` utility): pose_keypoints_2d (BODY_25), hand_left_keypoints_2d,
  hand_right_keypoints_2d; points 0-8 and 15-18 of BODY_25, then the hands, as for OpenPose JSON.
Coordinates are pixels of the header's width x height; the picture is fitted into the 256-pixel frame
keeping its aspect ratio (handlers/mediapipe_map.image_mapping: a 640x480 file is scaled by 0.4 and
centred vertically; a square one maps exactly). The header always carries a size, so no .pose input
is squashed.
Masked points or points with confidence 0 are missing: (0, 0). A frame without any point repeats
the previous one.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from handlers.errors import InputError
from handlers.keypoints import BODY_POINTS, HAND_POINTS, fill_empty_frames
from handlers.mediapipe_map import POSE_POINTS, holistic_to_points, image_mapping

if TYPE_CHECKING:
    from pose_format import Pose

HOLISTIC = {"POSE_LANDMARKS": POSE_POINTS, "LEFT_HAND_LANDMARKS": HAND_POINTS, "RIGHT_HAND_LANDMARKS": HAND_POINTS}
OPENPOSE = {"pose_keypoints_2d": 25, "hand_left_keypoints_2d": HAND_POINTS, "hand_right_keypoints_2d": HAND_POINTS}
LAYOUTS = {"holistic": HOLISTIC, "openpose": OPENPOSE}


def read_pose(data: bytes) -> Pose:
    """Parse .pose bytes with pose-format (imported here: only this input needs it), or InputError."""
    from pose_format import Pose

    try:
        return Pose.read(bytes(data))
    except Exception as exc:  # noqa: BLE001 - any parse failure of untrusted bytes is the client's 400
        raise InputError(f"body is not a readable pose-format .pose file ({type(exc).__name__}: {exc})") from None


def layout_of(components: dict[str, int]) -> str:
    """Which known layout the header's {component: point count} holds, or InputError naming both."""
    for name, wanted in LAYOUTS.items():
        if all(components.get(component) == count for component, count in wanted.items()):
            return name
    expected = "; ".join(f"{name}: " + ", ".join(f"{c} ({n})" for c, n in wanted.items())
                         for name, wanted in LAYOUTS.items())
    found = ", ".join(f"{c} ({n})" for c, n in components.items()) or "none"
    raise InputError(f".pose header components are {found}; expected the {expected}")


def pose_to_frames(data: bytes, max_frames: int) -> np.ndarray:
    """.pose bytes -> (T, 55, 2) pixel points of the 256-pixel frame."""
    pose = read_pose(data)
    header = pose.header
    offsets, start = {}, 0
    for component in header.components:
        offsets[component.name] = (start, start + len(component.points))
        start += len(component.points)
    layout = layout_of({name: end - begin for name, (begin, end) in offsets.items()})
    width, height = header.dimensions.width, header.dimensions.height
    if width <= 0 or height <= 0:
        raise InputError(f".pose header dimensions must be positive, got {width} x {height}")
    data_array = np.ma.getdata(pose.body.data)
    frames, people = data_array.shape[:2]
    if frames > max_frames:
        raise InputError(f".pose file has {frames} frames; the limit is {max_frames}")
    if frames == 0 or people == 0:
        raise InputError(f".pose file holds {frames} frames of {people} people; nothing to classify", status=422)
    missing = np.ma.getmaskarray(pose.body.data)[:, 0, :, :2].any(axis=-1) | (np.asarray(pose.body.confidence)[:, 0] <= 0)
    points = np.where(missing[..., None], 0.0, data_array[:, 0, :, :2]).astype(np.float32)
    if not np.isfinite(points).all():
        raise InputError(".pose file contains NaN or infinite coordinates")
    # [0, 1] of the video frame; a missing point is put outside the picture, which the mapping treats as missing
    unit = np.where(missing[..., None], np.float32(-1), points / np.array([width, height], dtype=np.float32))
    parts = [unit[:, begin:end] for begin, end in (offsets[name] for name in LAYOUTS[layout])]
    if layout == "holistic":
        mapped = [holistic_to_points(*(part[t] for part in parts), image_size=(width, height)) for t in range(frames)]
    else:
        body, left, right = parts
        scale, offset = image_mapping((width, height))
        picked = np.concatenate([body[:, list(BODY_POINTS)], left, right], axis=1)
        mapped = list(np.where((picked < 0).any(axis=-1, keepdims=True), np.float32(0), picked * scale + offset))
    used = np.concatenate([np.arange(*offsets[name]) for name in LAYOUTS[layout]])
    empty = missing[:, used].all(axis=1)
    return fill_empty_frames([None if empty[t] else mapped[t] for t in range(frames)], ".pose frames")
