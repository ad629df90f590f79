"""Request body -> model windows: the input kinds the handler accepts, and their options.

Accepted bodies (JSON object, or the raw bytes of one; or a .npy array):
- {"openpose_frames": [<OpenPose frame JSON>, ...]}  frames as OpenPose writes them
- {"frames": [[[x, y] * 55] * T]}                      (T, 55, 2) pixel points, 256-pixel frame
- {"sample": [[...] * 100] * 55}                       a prepared (55, 100) sample (or (W, 55, 100))
- {"mediapipe_frames": [{"pose": .., "left_hand": .., "right_hand": ..}, ...]}  Holistic landmarks
- {"pose_file": "<base64 of a pose-format .pose file>"}
each with an optional "top_k". A .npy body holds a (T, 55, 2) or (55, 100) float array; a body sent
as Content-Type application/x-pose is a .pose file.
"""
from __future__ import annotations

import base64
import binascii
import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from handlers.keypoints import (InputError, as_float_array, check_frames, check_sample, frames_to_windows,
                                openpose_to_frames)
from handlers.mediapipe_map import mediapipe_to_frames
from handlers.pose_file import pose_to_frames

if TYPE_CHECKING:
    import torch

INPUT_KEYS = ("openpose_frames", "frames", "sample", "mediapipe_frames", "pose_file")
POSE_CONTENT_TYPES = ("application/x-pose", "application/pose")
VIDEO_CONTENT_TYPES = ("video/mp4", "video/webm", "video/x-msvideo", "video/avi")
OPTION_KEYS = ("top_k",)
NPY_MAGIC = b"\x93NUMPY"


@dataclass(frozen=True)
class Limits:
    """Per-model request limits (from the archive's model-config.yaml)."""

    num_samples: int
    num_classes: int
    default_top_k: int = 5
    max_frames: int = 5000


@dataclass(frozen=True)
class Decoded:
    """One request, ready for the model."""

    kind: str
    windows: np.ndarray  # (W, 55, 2 * num_samples) float32
    top_k: int
    num_frames: int


@dataclass(frozen=True)
class Prediction:
    """One request's window-averaged logits and how many glosses it asked for."""

    logits: torch.Tensor
    top_k: int


def parse_body(body: Any) -> dict[str, Any] | np.ndarray:
    """What TorchServe hands the handler (dict, str, bytes) -> a JSON object or a .npy array."""
    if isinstance(body, dict):
        return body
    if isinstance(body, (bytes, bytearray)):
        if bytes(body[:6]) == NPY_MAGIC:
            try:
                return np.load(io.BytesIO(bytes(body)), allow_pickle=False)
            except (ValueError, OSError, EOFError) as exc:
                raise InputError(f"body looks like a .npy array but cannot be read: {exc}") from None
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise InputError("body must be a UTF-8 JSON object, a .npy array, or a .pose file sent as "
                             "Content-Type application/x-pose") from None
    if isinstance(body, str):
        if not body.strip():
            raise InputError("empty request body; expected a JSON object with one of " + ", ".join(INPUT_KEYS))
        try:
            body = json.loads(body)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise InputError(f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InputError(f"body must be a JSON object with one of {', '.join(INPUT_KEYS)}, got {type(body).__name__}")
    return body


def parse_top_k(value: Any, limits: Limits) -> int:
    """Validate the optional `top_k` option."""
    if value is None:
        return min(limits.default_top_k, limits.num_classes)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limits.num_classes:
        raise InputError(f"top_k must be an integer from 1 to {limits.num_classes}, got {value!r}")
    return value


def media_type(content_type: str | None) -> str:
    """'Video/MP4; codecs=..' -> 'video/mp4' ('' when absent)."""
    return (content_type or "").split(";")[0].strip().lower()


def decode_request(body: Any, limits: Limits, content_type: str | None = None) -> Decoded:
    """One request body (and its Content-Type) -> Decoded, or InputError naming what is wrong."""
    kind = media_type(content_type)
    if kind in POSE_CONTENT_TYPES:
        if not isinstance(body, (bytes, bytearray)) or not body:
            raise InputError(f"a {kind} body must be the bytes of a pose-format .pose file")
        return _decode_pixels(pose_to_frames(bytes(body), limits.max_frames), "pose_file", None, limits)
    if kind in VIDEO_CONTENT_TYPES:
        raise InputError(f"this model takes keypoints, not {kind}: send the video to the model's video archive "
                         f"(<model>_video, see README 'Video'), or extract keypoints first", status=415)
    parsed = parse_body(body)
    if isinstance(parsed, np.ndarray):
        return _decode_array(as_float_array(parsed, "the .npy array"), "npy", limits.default_top_k, limits)
    inputs = [key for key in INPUT_KEYS if key in parsed]
    unknown = sorted(set(parsed) - set(INPUT_KEYS) - set(OPTION_KEYS))
    if unknown:
        raise InputError(f"unknown field(s) {', '.join(map(repr, unknown))}; expected one of "
                         f"{', '.join(INPUT_KEYS)} and optionally top_k")
    if len(inputs) != 1:
        raise InputError(f"body must hold exactly one of {', '.join(INPUT_KEYS)}, found {len(inputs)}")
    kind = inputs[0]
    top_k = parse_top_k(parsed.get("top_k"), limits)
    value = parsed[kind]
    if kind in ("openpose_frames", "mediapipe_frames"):
        if isinstance(value, list) and len(value) > limits.max_frames:
            raise InputError(f"{kind} has {len(value)} frames; the limit is {limits.max_frames}")
        pixels = (openpose_to_frames if kind == "openpose_frames" else mediapipe_to_frames)(value)
        return Decoded(kind, frames_to_windows(pixels, limits.num_samples), top_k, len(value))
    if kind == "pose_file":
        return _decode_pixels(pose_to_frames(decode_base64(value, kind), limits.max_frames), kind, top_k, limits)
    return _decode_array(as_float_array(value, kind), kind, top_k, limits)


def decode_base64(value: Any, what: str) -> bytes:
    """A base64 string field -> its bytes, or InputError naming the field."""
    if not isinstance(value, str) or not value:
        raise InputError(f"{what} must be a non-empty base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{what} is not valid base64") from None


def _decode_pixels(pixels: np.ndarray, kind: str, top_k: int | None, limits: Limits) -> Decoded:
    """(T, 55, 2) pixel points -> Decoded (top_k None: the model's default)."""
    top_k = parse_top_k(top_k, limits)
    return Decoded(kind, frames_to_windows(pixels, limits.num_samples), top_k, len(pixels))


def _decode_array(array: np.ndarray, kind: str, top_k: int, limits: Limits) -> Decoded:
    """A (T, 55, 2) pixel array or a prepared (55, 2S) / (W, 55, 2S) sample -> Decoded."""
    is_frames = kind == "frames" or (kind == "npy" and array.ndim == 3 and array.shape[-1] == 2)
    if is_frames:
        frames = check_frames(array, kind)
        if len(frames) > limits.max_frames:
            raise InputError(f"{kind} has {len(frames)} frames; the limit is {limits.max_frames}")
        return Decoded(kind, frames_to_windows(frames, limits.num_samples), top_k, len(frames))
    windows = check_sample(array, limits.num_samples, kind)
    if len(windows) > 64:
        raise InputError(f"{kind} has {len(windows)} windows; the limit is 64")
    return Decoded(kind, np.ascontiguousarray(windows, dtype=np.float32), top_k, limits.num_samples)
