"""Request body -> model windows: the input kinds the handler accepts, and their options.

Accepted bodies (JSON object, or the raw bytes of one; or a .npy array):
- {"openpose_frames": [<OpenPose frame JSON>, ...]}  frames as OpenPose writes them
- {"frames": [[[x, y] * 55] * T]}                      (T, 55, 2) pixel points, 256-pixel frame
- {"sample": [[...] * 100] * 55}                       a prepared (55, 100) sample (or (W, 55, 100))
- {"mediapipe_frames": [{"pose": .., "left_hand": .., "right_hand": ..}, ...]}  Holistic landmarks
- {"pose_file": "<base64 of a pose-format .pose file>"}
each with an optional "top_k". A .npy body holds a (T, 55, 2) or (55, 100) float array; a body sent
as Content-Type application/x-pose is a .pose file.
Every other body is refused with an InputError whose message names the problem: the handler
answers it with that 4xx status and keeps serving.
"""
from __future__ import annotations

import base64
import binascii
import io
import json
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from handlers.errors import InputError
from handlers.framing import FramingSettings, framed
from handlers.keypoints import (MAX_ABS_PIXEL, MIN_HAND_FRAMES, as_float_array, check_frames, check_hands, check_sample,
                                frames_to_windows, openpose_to_frames, sample_bound)
from handlers.mediapipe_map import mediapipe_to_frames, parse_image_size
from handlers.pose_file import pose_to_frames

if TYPE_CHECKING:
    import torch

INPUT_KEYS = ("openpose_frames", "frames", "sample", "mediapipe_frames", "pose_file")
IMAGE_SIZE_KEYS = ("image_width", "image_height")  # with mediapipe_frames only
FRAMING_KEYS = ("framing", "mirrored")  # handlers/framing.py; not with a prepared sample
OPTION_KEYS = ("top_k",) + IMAGE_SIZE_KEYS + FRAMING_KEYS
NPY_MAGIC = b"\x93NUMPY"
POSE_CONTENT_TYPES = ("application/x-pose", "application/pose")
VIDEO_CONTENT_TYPES = ("video/mp4", "video/webm", "video/x-msvideo", "video/avi")
# Media types whose bodies reach a decoder (text/* is read as JSON text too); the rest answer 415.
# Video passes here: the video handler decodes it, the keypoint handler answers 415 naming the video archive.
ACCEPTED_TYPES = ("application/json", "application/octet-stream", "application/x-npy",
                  *POSE_CONTENT_TYPES, *VIDEO_CONTENT_TYPES)
SEND_THIS = "send JSON with Content-Type: application/json (or a .npy array as application/octet-stream)"


@dataclass(frozen=True)
class Limits:
    """Per-model request limits (from the archive's model-config.yaml)."""

    num_samples: int
    num_classes: int
    default_top_k: int = 5
    max_frames: int = 5000
    max_windows: int = 64
    min_hand_frames: int = MIN_HAND_FRAMES  # pixel inputs only; a prepared sample is taken as it is

    @classmethod
    def from_settings(cls, settings: dict[str, Any], num_samples: int, num_classes: int) -> Limits:
        """The limits an archive's `handler:` settings give (a setting of a field's name), defaults otherwise."""
        given = {f.name: int(settings[f.name]) for f in fields(cls)
                 if f.name not in ("num_samples", "num_classes") and settings.get(f.name) is not None}
        return cls(num_samples=num_samples, num_classes=num_classes, **given)


@dataclass(frozen=True)
class Batch:
    """One batch on its way through the handler (TorchServe loads the handler module only if it
    defines one class, so this lives here): the protocol its rows came in (native, or a KServe
    envelope) and one item per answer (Decoded, then Prediction; an InputError stays as it is)."""

    protocol: str
    items: list[Any]


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


def media_type(content_type: Any) -> str:
    """'Application/JSON; charset=utf-8' -> 'application/json' ('' when absent)."""
    return str(content_type or "").split(";", 1)[0].strip().lower()


def check_media_type(content_type: Any) -> None:
    """Refuse bodies of a media type this model cannot read (415)."""
    kind = media_type(content_type)
    if kind == "application/x-www-form-urlencoded":
        raise InputError(f"form-encoded bodies are not accepted; {SEND_THIS}", status=415)
    if kind and kind not in ACCEPTED_TYPES and not kind.startswith("text/"):
        raise InputError(f"Content-Type {kind!r} is not accepted; {SEND_THIS}", status=415)


def header(headers: dict[str, Any], name: str) -> Any:
    """A request header by case-insensitive name (None when absent)."""
    return next((value for key, value in headers.items() if key.lower() == name), None)


def body_content_type(headers: dict[str, Any]) -> str | None:
    """The Content-Type TorchServe recorded for the request's body (or multipart field `data`)."""
    for key in ("data", "body"):
        if isinstance(headers.get(key), dict):
            return headers[key].get("content-type")
    return None


def request_body(row: dict[str, Any], headers: dict[str, Any]) -> Any:
    """The payload TorchServe passed for one request, after its Content-Type is checked.

    `row` maps parameter names to values: the body, multipart fields, or gRPC inputs; a field or
    input named `data` is the payload. `headers` holds the request headers and, per parameter,
    {"content-type": ...} (TorchServe's RequestProcessor properties).
    """
    content_type = header(headers, "content-type")
    multipart = media_type(content_type).startswith("multipart/")
    if not multipart:
        check_media_type(content_type)
    if row.get("data") is not None:
        part = headers.get("data")
        return checked_body(row["data"], part.get("content-type") if isinstance(part, dict) else None)
    if multipart:
        fields = ", ".join(repr(name) for name in list(row)[:5])
        raise InputError("multipart body has no complete field named 'data' (empty, truncated or misnamed"
                         + (f"; fields found: {fields})" if fields else ")"))
    if "body" not in row:
        raise InputError(f"no request body found; {SEND_THIS}")
    return checked_body(row["body"], content_type)


def checked_body(body: Any, content_type: Any) -> Any:
    """The body if its media type is accepted; JSON that TorchServe already decoded must be an object."""
    check_media_type(content_type)
    if media_type(content_type) == "application/json" and not isinstance(body, (dict, bytes, bytearray)):
        kinds = {type(None): "null", bool: "a boolean", int: "a number", float: "a number", str: "a string",
                 list: "an array"}
        raise InputError(f"body must be a JSON object with one of {', '.join(INPUT_KEYS)}, "
                         f"got {kinds.get(type(body), type(body).__name__)}")
    return body


def load_npy(raw: bytes) -> np.ndarray:
    """A .npy body -> array; the header's shape must match the bytes sent (no pickles, no huge allocations)."""
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(stream)
        if dtype.hasobject:
            raise InputError("the .npy array holds Python objects; only numeric arrays are accepted")
        expected = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
        if expected != len(raw) - stream.tell():
            raise InputError(f"the .npy header announces shape {shape} of {dtype} ({expected:.0f} bytes) "
                             f"but {len(raw) - stream.tell()} bytes follow it")
        stream.seek(0)
        return np.load(stream, allow_pickle=False)
    except InputError:
        raise
    except (ValueError, OSError, EOFError, TypeError) as exc:
        raise InputError(f"body looks like a .npy array but cannot be read: {exc}") from None


def parse_body(body: Any) -> dict[str, Any] | np.ndarray:
    """What TorchServe hands the handler (dict, str, bytes) -> a JSON object or a .npy array."""
    if isinstance(body, dict):
        return body
    if isinstance(body, (bytes, bytearray)):
        if bytes(body[:6]) == NPY_MAGIC:
            return load_npy(bytes(body))
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise InputError("body must be a UTF-8 JSON object or a .npy array") from None
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
        raise InputError(f"top_k must be an integer from 1 to {limits.num_classes}, got {shown(value)}")
    return value


def shown(value: Any, limit: int = 40) -> str:
    """A short repr of a client-supplied value for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def decode_request(body: Any, limits: Limits, content_type: str | None = None,
                   framing: FramingSettings = FramingSettings()) -> Decoded:
    """One request body (and its Content-Type) -> Decoded, or InputError naming what is wrong.

    `framing` holds the archive's framing statistics and per-kind defaults (handlers/framing.py)."""
    kind = media_type(content_type)
    if kind in POSE_CONTENT_TYPES:
        if not isinstance(body, (bytes, bytearray)) or not body:
            raise InputError(f"a {kind} body must be the bytes of a pose-format .pose file")
        pixels = pose_to_frames(bytes(body), limits.max_frames)
        return decode_pixels(pixels, "pose_file", None, limits, {}, framing)
    if kind in VIDEO_CONTENT_TYPES:
        raise InputError(f"this model takes keypoints, not {kind}: send the video to the model's video archive "
                         f"(<model>_video, see README 'Video'), or extract keypoints first", status=415)
    parsed = parse_body(body)
    if isinstance(parsed, np.ndarray):
        return _decode_array(parsed, "npy", parse_top_k(None, limits), limits, {}, framing)
    inputs = [key for key in INPUT_KEYS if key in parsed]
    unknown = sorted(set(parsed) - set(INPUT_KEYS) - set(OPTION_KEYS))
    if unknown:
        raise InputError(f"unknown field(s) {', '.join(shown(key) for key in unknown[:5])}; expected one of "
                         f"{', '.join(INPUT_KEYS)} and optionally {', '.join(OPTION_KEYS)}")
    if len(inputs) != 1:
        raise InputError(f"body must hold exactly one of {', '.join(INPUT_KEYS)}, found {len(inputs)}")
    kind = inputs[0]
    top_k = parse_top_k(parsed.get("top_k"), limits)
    value = parsed[kind]
    if kind != "mediapipe_frames" and any(key in parsed for key in IMAGE_SIZE_KEYS):
        raise InputError(f"image_width and image_height describe mediapipe_frames; {kind} carries no image size")
    if kind in ("openpose_frames", "mediapipe_frames"):
        if isinstance(value, list) and len(value) > limits.max_frames:
            raise InputError(f"{kind} has {len(value)} frames; the limit is {limits.max_frames}")
        if kind == "openpose_frames":
            pixels = openpose_to_frames(value)
        else:
            pixels = mediapipe_to_frames(value, parse_image_size(*(parsed.get(key) for key in IMAGE_SIZE_KEYS)))
    elif kind == "pose_file":
        pixels = pose_to_frames(decode_base64(value, kind), limits.max_frames)
    else:
        return _decode_array(value, kind, top_k, limits, parsed, framing)
    return decode_pixels(pixels, kind, top_k, limits, parsed, framing)


def decode_base64(value: Any, what: str) -> bytes:
    """A base64 string field -> its bytes, or InputError naming the field."""
    if not isinstance(value, str) or not value:
        raise InputError(f"{what} must be a non-empty base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{what} is not valid base64") from None


def decode_pixels(pixels: np.ndarray, kind: str, top_k: int | None, limits: Limits, options: dict[str, Any],
                  framing: FramingSettings) -> Decoded:
    """(T, 55, 2) pixel points -> Decoded (top_k None: the model's default): framed as the request's
    `framing`/`mirrored` options or the kind's default say, refused (422) when too few frames show a hand,
    windowed. Every input kind but a prepared sample passes here."""
    top_k = parse_top_k(top_k, limits)
    pixels = framed(pixels, kind, options, framing)
    check_hands(pixels, limits.min_hand_frames, kind)
    return Decoded(kind, frames_to_windows(pixels, limits.num_samples), top_k, len(pixels))


def _decode_array(value: Any, kind: str, top_k: int, limits: Limits, options: dict[str, Any],
                  framing: FramingSettings) -> Decoded:
    """A (T, 55, 2) pixel array or a prepared (55, 2S) / (W, 55, 2S) sample -> Decoded."""
    what = "the .npy array" if kind == "npy" else kind
    shape = np.shape(value) if isinstance(value, np.ndarray) else None
    is_frames = kind == "frames" or (shape is not None and len(shape) == 3 and shape[-1] == 2)
    array = as_float_array(value, what, MAX_ABS_PIXEL if is_frames else sample_bound())
    if is_frames:
        frames = check_frames(array, kind)
        if len(frames) > limits.max_frames:
            raise InputError(f"{kind} has {len(frames)} frames; the limit is {limits.max_frames}")
        return decode_pixels(frames, kind, top_k, limits, options, framing)
    if any(key in options for key in FRAMING_KEYS):
        raise InputError(f"{' and '.join(key for key in FRAMING_KEYS if key in options)} apply to keypoint frames; "
                         f"a prepared {kind} is already normalised")
    windows = check_sample(array, limits.num_samples, kind)
    if len(windows) > limits.max_windows:
        raise InputError(f"{kind} has {len(windows)} windows; the limit is {limits.max_windows}")
    return Decoded(kind, np.ascontiguousarray(windows, dtype=np.float32), top_k, limits.num_samples)
