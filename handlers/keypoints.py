"""Keypoints -> model input: OpenPose parsing, normalisation and the paper's test-time windows.

Pure numpy; no TorchServe import. A frame is 55 points in this order: OpenPose BODY_25 points
0-8 and 15-18, then the 21 left-hand points, then the 21 right-hand points. Coordinates are
pixels of the 256-pixel frame WLASL's poses were extracted on; missing points are (0, 0).
"""
from __future__ import annotations

from itertools import chain
from typing import Any, Sequence

import numpy as np

from handlers.errors import InputError

NUM_POINTS = 55
BODY_POINTS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 15, 16, 17, 18)
HAND_POINTS = 21
FRAME_SIZE = 256.0
NUM_WINDOWS = 4
# The fewest frames that must show a hand (any of the 42 hand points detected) for a clip to be
# classified. The 13 real WLASL clips in the shared data show a hand in 13 to 35 frames (the fewest:
# 32162, 13 of its 13 frames); 10 leaves a margin below that. An archive setting (handler.min_hand_frames).
MIN_HAND_FRAMES = 10
HAND_SLICE = slice(len(BODY_POINTS), len(BODY_POINTS) + 2 * HAND_POINTS)
# Sanity bound for pixel coordinates (frames are 256 pixels; OpenPose on 8K video stays far below).
MAX_ABS_PIXEL = 1e5
# A person's OpenPose fields and point counts; the 55 model points among their 67, in model order.
OPENPOSE_FIELDS = (("pose_keypoints_2d", 25), ("hand_left_keypoints_2d", HAND_POINTS),
                   ("hand_right_keypoints_2d", HAND_POINTS))
OPENPOSE_PICK = np.array(BODY_POINTS + tuple(range(25, 25 + 2 * HAND_POINTS)))
ZERO_VALUES = {count: [0.0] * (3 * count) for _, count in OPENPOSE_FIELDS}
NUMBER_KINDS = {"b": "booleans", "U": "strings", "S": "bytes", "O": "null, objects, mixed types or huge integers",
                "c": "complex numbers", "V": "structured records", "M": "dates", "m": "time deltas"}


def _points(values: Any, count: int, what: str, allow_empty: bool) -> np.ndarray:
    """An OpenPose flat [x, y, c, ...] list -> (count, 2) pixel coordinates."""
    if values is None or (allow_empty and isinstance(values, list) and not values):
        return np.zeros((count, 2), dtype=np.float32)
    if not isinstance(values, list) or len(values) != 3 * count:
        got = f"{len(values)} values" if isinstance(values, list) else type(values).__name__
        raise InputError(f"{what} must be a list of {3 * count} numbers (x, y, confidence per point), got {got}")
    array = as_float_array(values, what, max_abs=None)
    if array.shape != (3 * count,):
        raise InputError(f"{what} must be a flat list of {3 * count} numbers, got shape {array.shape}")
    array = array.reshape(count, 3)
    check_magnitude(array[:, :2], MAX_ABS_PIXEL, what)
    return array[:, :2]


def openpose_frame_points(frame: Any, index: int = 0) -> np.ndarray | None:
    """One OpenPose frame JSON object -> (55, 2) pixel points of its first person, or None if nobody."""
    where = f"openpose_frames[{index}]"
    if not isinstance(frame, dict) or not isinstance(frame.get("people"), list):
        raise InputError(f"{where} must be an OpenPose frame object with a 'people' list")
    if not frame["people"]:
        return None
    person = frame["people"][0]
    if not isinstance(person, dict):
        raise InputError(f"{where}.people[0] must be an object")
    if not any(key in person for key, _ in OPENPOSE_FIELDS):
        raise InputError(f"{where}.people[0] has no keypoints: expected "
                         + ", ".join(key for key, _ in OPENPOSE_FIELDS))
    body = _points(person.get("pose_keypoints_2d"), 25, f"{where}.people[0].pose_keypoints_2d (BODY_25)", False)
    left = _points(person.get("hand_left_keypoints_2d"), HAND_POINTS, f"{where}.people[0].hand_left_keypoints_2d", True)
    right = _points(person.get("hand_right_keypoints_2d"), HAND_POINTS, f"{where}.people[0].hand_right_keypoints_2d", True)
    return np.concatenate([body[list(BODY_POINTS)], left, right])


def openpose_to_frames(frames: Sequence[Any]) -> np.ndarray:
    """OpenPose frames -> (T, 55, 2) pixel points (frames with no person: see fill_empty_frames).

    Well-formed frames take one vectorised pass; anything unusual is parsed frame by frame, which
    decides what is accepted and names the frame and field of any error.
    """
    if not isinstance(frames, list) or not frames:
        raise InputError("openpose_frames must be a non-empty list of OpenPose frame objects")
    try:
        return _openpose_fast(frames)
    except _Unusual:
        return openpose_frames_one_by_one(frames)


def openpose_frames_one_by_one(frames: list[Any]) -> np.ndarray:
    """The per-frame parser: the rules of what is accepted, and an error naming frame and field."""
    return fill_empty_frames([openpose_frame_points(frame, index) for index, frame in enumerate(frames)],
                             "OpenPose frames")


class _Unusual(Exception):
    """Frames the vectorised pass does not take; the per-frame parser decides about them."""


def _openpose_fast(frames: list[Any]) -> np.ndarray:
    """openpose_to_frames for frames whose fields are all lists of the right length holding only
    ints and floats, finite and within MAX_ABS_PIXEL: the values the per-frame parser would give."""
    rows: list[list[Any]] = []
    present: list[bool] = []
    for frame in frames:
        people = frame.get("people") if isinstance(frame, dict) else None
        if not isinstance(people, list) or (people and not isinstance(people[0], dict)):
            raise _Unusual
        present.append(bool(people))
        if people:
            if not any(key in people[0] for key, _ in OPENPOSE_FIELDS):
                raise _Unusual
            row: list[Any] = []
            for key, count in OPENPOSE_FIELDS:
                values = people[0].get(key)
                if values is None or (values == [] and count == HAND_POINTS):
                    values = ZERO_VALUES[count]
                elif not isinstance(values, list) or len(values) != 3 * count:
                    raise _Unusual
                row += values
            rows.append(row)
    if not rows or not set(map(type, chain.from_iterable(rows))) <= {float, int}:
        raise _Unusual
    try:
        values = np.array(rows, dtype=np.float64)
    except OverflowError:  # an integer beyond float64
        raise _Unusual from None
    if not np.isfinite(values).all() or np.abs(values).max() > MAX_ABS_PIXEL:
        raise _Unusual
    points = values.reshape(len(rows), -1, 3)[:, OPENPOSE_PICK, :2].astype(np.float32)
    found = iter(points)
    return fill_empty_frames([next(found) if seen else None for seen in present], "OpenPose frames")


def fill_empty_frames(points: Sequence[np.ndarray | None], what: str) -> np.ndarray:
    """Per-frame (55, 2) points, None where nobody was found -> (T, 55, 2).

    A frame with no person repeats the previous frame; leading frames with no person are dropped
    (the original data loader had no earlier frame to repeat and skipped them).
    """
    kept: list[np.ndarray] = []
    for found in points:
        if found is not None:
            kept.append(found)
        elif kept:
            kept.append(kept[-1])
    if not kept:
        raise InputError(f"no person was detected in any of the {len(points)} {what}", status=422)
    return np.stack(kept)


def hand_frames(pixels: np.ndarray) -> int:
    """How many frames of a (T, 55, 2) pixel clip show a hand: any left- or right-hand point not (0, 0)."""
    return int(np.any(pixels[:, HAND_SLICE] != 0, axis=(1, 2)).sum())


def check_hands(pixels: np.ndarray, minimum: int, what: str) -> np.ndarray:
    """The clip if at least `minimum` of its frames show a hand; else InputError 422 naming what is missing.

    Frames where nobody was detected already repeat the previous frame (fill_empty_frames)."""
    found = hand_frames(pixels)
    if found < minimum:
        raise InputError(f"not enough hand keypoints to classify: {what} shows a hand in {found} of "
                         f"{len(pixels)} frames; at least {minimum} frames with a detected left or right "
                         f"hand are needed", status=422)
    return pixels


def normalize(pixels: np.ndarray) -> np.ndarray:
    """Pixel coordinates of the 256-pixel frame -> the model's range: 2 * (v / 256 - 0.5)."""
    return (2.0 * (pixels / FRAME_SIZE - 0.5)).astype(np.float32)


def window_starts(num_frames: int, num_samples: int, num_windows: int = NUM_WINDOWS) -> list[int] | None:
    """0-based start of each test window, or None when the clip is short and is padded instead.

    As the paper's evaluation ("k copies"): clips longer than all windows together get consecutive
    windows centred on the clip; others get windows spread evenly from the first frame.
    """
    if num_frames <= num_samples:
        return None
    if num_samples * num_windows < num_frames:
        # Upstream works on 1-based frame numbers 1..T: mid = (1 + T) // 2, first = mid - half.
        first = (1 + num_frames) // 2 - num_samples * num_windows // 2
        return [first - 1 + i * num_samples for i in range(num_windows)]
    stride = (num_frames - num_samples) // (num_windows - 1)
    return [i * stride for i in range(num_windows)]


def frame_indices(num_frames: int, num_samples: int, num_windows: int = NUM_WINDOWS) -> np.ndarray:
    """(num_windows, num_samples) frame indices; a short clip is padded with its last frame."""
    starts = window_starts(num_frames, num_samples, num_windows)
    if starts is None:
        window = np.minimum(np.arange(num_samples), num_frames - 1)
        return np.tile(window, (num_windows, 1))
    return np.stack([np.arange(start, start + num_samples) for start in starts])


def frames_to_windows(pixels: np.ndarray, num_samples: int, num_windows: int = NUM_WINDOWS) -> np.ndarray:
    """(T, 55, 2) pixel points -> (num_windows, 55, 2 * num_samples) model input, x/y interleaved per frame."""
    picked = normalize(pixels)[frame_indices(len(pixels), num_samples, num_windows)]  # (W, S, 55, 2)
    return np.ascontiguousarray(picked.transpose(0, 2, 1, 3).reshape(num_windows, NUM_POINTS, 2 * num_samples))


def as_float_array(value: Any, what: str, max_abs: float | None) -> np.ndarray:
    """A nested list (or array) of numbers -> finite float32 array, or InputError naming `what`.

    Only real numbers pass: numeric strings, booleans, null and huge integers are refused, as are
    NaN, infinities and (when `max_abs` is given) values beyond +-max_abs.
    """
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError, OverflowError, RecursionError):
        raise InputError(f"{what} must be a rectangular array of numbers (ragged or too deeply nested)") from None
    if raw.dtype.kind not in "iuf":
        found = NUMBER_KINDS.get(raw.dtype.kind, str(raw.dtype))
        raise InputError(f"{what} must contain only numbers, found {found}")
    if not np.isfinite(raw).all():
        raise InputError(f"{what} contains NaN or infinite values")
    check_magnitude(raw, np.finfo(np.float32).max if max_abs is None else max_abs, what)
    return raw.astype(np.float32)


def check_magnitude(array: np.ndarray, max_abs: float, what: str) -> None:
    """Refuse absurd magnitudes (they would overflow float32 or saturate the model)."""
    if array.size and float(np.abs(array).max()) > max_abs:
        raise InputError(f"{what} has values of magnitude up to {float(np.abs(array).max()):.3g}; "
                         f"the limit is {max_abs:.3g}")


def sample_bound(max_abs_pixel: float = MAX_ABS_PIXEL) -> float:
    """The largest normalised value a pixel within +-max_abs_pixel can give."""
    return 2.0 * max_abs_pixel / FRAME_SIZE + 1.0


def check_frames(array: np.ndarray, what: str) -> np.ndarray:
    """Validate a (T, 55, 2) pixel array."""
    if array.ndim != 3 or array.shape[1:] != (NUM_POINTS, 2) or array.shape[0] < 1:
        raise InputError(f"{what} must have shape (T, {NUM_POINTS}, 2) with T >= 1, got {tuple(array.shape)}")
    return array


def check_sample(array: np.ndarray, num_samples: int, what: str) -> np.ndarray:
    """Validate a prepared sample: (55, 2*S) or (W, 55, 2*S) normalised values -> (W, 55, 2*S)."""
    shape = (NUM_POINTS, 2 * num_samples)
    if array.ndim == 2 and array.shape == shape:
        return array[None]
    if array.ndim == 3 and array.shape[1:] == shape and array.shape[0] >= 1:
        return array
    raise InputError(f"{what} must have shape {shape} or (windows, {shape[0]}, {shape[1]}), got {tuple(array.shape)}")
