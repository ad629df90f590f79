"""What the page needs to know about the model's 55 points, generated from the handler's own tables.

The page draws the skeleton "as the model will see it" from `GET /api/layout` (built here from
handlers/mediapipe_map.py and handlers/keypoints.py), so there is no second, hand-written copy of the
MediaPipe -> 55-point mapping in JavaScript. For a replay it asks `POST /api/points`, which runs the
handler's parsers on the request body and returns the (T, 55, 2) points of the 256-pixel frame.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from handlers.errors import InputError
from handlers.keypoints import FRAME_SIZE, HAND_POINTS, NUM_POINTS
from handlers.mediapipe_map import BODY_SOURCES, FRAME_PARTS, NUM_BODY, POSE_POINTS
from handlers.payload import IMAGE_SIZE_KEYS, parse_body
from scripts.tools.render_skeleton import EDGES, clip_pixels

MAX_REPLAY_FRAMES = 5000


def layout() -> dict[str, Any]:
    """The 55-point layout as JSON: which MediaPipe landmark feeds each point, the skeleton's edges."""
    return {
        "num_points": NUM_POINTS,
        "frame_size": FRAME_SIZE,
        "pose_points": POSE_POINTS,
        "hand_points": HAND_POINTS,
        # Body slot i <- pose landmark `s`, or the mean of the present ones of a pair [a, b].
        "body_sources": [list(source) if isinstance(source, tuple) else source for source in BODY_SOURCES],
        # Slots in order: the body from the pose, then the person's left hand, then the right hand.
        "parts": [{"name": "body", "from": "pose", "start": 0, "count": NUM_BODY},
                  {"name": "left_hand", "from": "left_hand", "start": NUM_BODY, "count": HAND_POINTS},
                  {"name": "right_hand", "from": "right_hand", "start": NUM_BODY + HAND_POINTS, "count": HAND_POINTS}],
        "frame_fields": list(FRAME_PARTS),
        "image_size_fields": list(IMAGE_SIZE_KEYS),
        # A landmark outside [0, 1] of the image is missing (as OpenPose never reports one).
        "inside": [0.0, 1.0],
        "edges": [list(edge) for edge in EDGES],
    }


def replay_points(raw: bytes) -> dict[str, Any]:
    """A prediction request body -> {"frames": (T, 55, 2) pixel points of the 256-pixel frame}, or InputError."""
    body = parse_body(raw)
    if not isinstance(body, dict):
        raise InputError("a replay needs a JSON body (openpose_frames, mediapipe_frames, pose_file or frames)")
    pixels = clip_pixels(body, MAX_REPLAY_FRAMES)
    if len(pixels) > MAX_REPLAY_FRAMES:
        raise InputError(f"{len(pixels)} frames; a replay shows at most {MAX_REPLAY_FRAMES}")
    return {"frame_size": FRAME_SIZE, "frames": np.round(pixels, 1).tolist()}
