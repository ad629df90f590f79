"""Video bytes -> 55-point frames: decode with PyAV from memory, MediaPipe Holistic per frame, map.

Runs only where MediaPipe 0.10.21 is installed (.venv-video, requirements-video.txt). Holistic uses
model_complexity=1, whose models (pose_landmark_full, hand_landmark_full, palm and pose detection)
ship inside the wheel: complexities 0 and 2 would download a model at run time, so they are refused.

Accepted requests: the raw video as the body with Content-Type video/mp4, video/webm or
video/x-msvideo (video/avi), or JSON {"video": "<base64 of the file>", "top_k": k}.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from handlers.errors import InputError
from handlers.keypoints import fill_empty_frames
from handlers.mediapipe_map import holistic_to_points
from handlers.payload import (VIDEO_CONTENT_TYPES, Decoded, Limits, decode_base64, decode_pixels, media_type, parse_body,
                              parse_top_k)

OFFLINE_COMPLEXITY = 1
Parts = tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]
EXPECTED = "an mp4, webm or avi video (Content-Type " + ", ".join(VIDEO_CONTENT_TYPES) + ", or JSON {\"video\": base64})"


@dataclass(frozen=True)
class VideoLimits:
    """Per-archive video limits (model-config.yaml handler.video_*)."""

    max_frames: int = 600
    max_side: int = 640  # frames are scaled down so that their longer side is at most this


def is_video_request(body: Any, content_type: str | None) -> bool:
    """Whether a request carries a video: a video Content-Type, or a JSON object with a "video" field."""
    return media_type(content_type) in VIDEO_CONTENT_TYPES or (isinstance(body, dict) and "video" in body)


def decode_frames(data: bytes, limits: VideoLimits) -> Iterator[np.ndarray]:
    """Video file bytes -> RGB frames (H, W, 3) uint8, decoded in memory; InputError if not a video."""
    import av

    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise InputError(f"body is not a decodable video ({exc}); expected {EXPECTED}") from None
    with container:
        if not container.streams.video:
            raise InputError(f"the file has no video stream; expected {EXPECTED}")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        count = 0
        try:
            for frame in container.decode(stream):
                count += 1
                if count > limits.max_frames:
                    raise InputError(f"the video has more than {limits.max_frames} frames; the limit is {limits.max_frames}",
                                     status=413)
                scale = min(1.0, limits.max_side / max(frame.width, frame.height))
                width, height = (max(2, round(frame.width * scale)), max(2, round(frame.height * scale)))
                yield frame.to_ndarray(format="rgb24", width=width, height=height)
        except av.FFmpegError as exc:
            raise InputError(f"the video cannot be decoded after {count} frame(s) ({exc}); expected {EXPECTED}") from None
        if count == 0:
            raise InputError(f"the video holds no decodable frame; expected {EXPECTED}")


class HolisticExtractor:
    """MediaPipe Holistic (offline models only) over a clip's frames -> (T, 55, 2) pixel points."""

    def __init__(self, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5) -> None:
        from mediapipe.python.solutions import holistic

        self._holistic = holistic
        self._options = dict(static_image_mode=False, model_complexity=OFFLINE_COMPLEXITY, smooth_landmarks=True,
                             refine_face_landmarks=False, min_detection_confidence=min_detection_confidence,
                             min_tracking_confidence=min_tracking_confidence)

    def landmarks(self, frames: Iterator[np.ndarray]) -> Iterator[Parts]:
        """Per frame: Holistic's pose (33, 2), left hand (21, 2), right hand (21, 2) in [0, 1], None where
        not found. A fresh graph per clip, so tracking never carries over from another request."""
        with self._holistic.Holistic(**self._options) as model:
            for rgb in frames:
                result = model.process(rgb)
                yield tuple(None if found is None else np.array([[p.x, p.y] for p in found.landmark], dtype=np.float32)
                            for found in (result.pose_landmarks, result.left_hand_landmarks, result.right_hand_landmarks))

    def clip_points(self, data: bytes, limits: VideoLimits) -> np.ndarray:
        """Video bytes -> (T, 55, 2) pixel points (frames with no person: see fill_empty_frames)."""
        points = [None if all(part is None for part in parts) else holistic_to_points(*parts)
                  for parts in self.landmarks(decode_frames(data, limits))]
        return fill_empty_frames(points, "video frames")


def decode_video_request(body: Any, content_type: str | None, limits: Limits, video_limits: VideoLimits,
                         extractor: HolisticExtractor) -> Decoded:
    """A video request (raw bytes or JSON with base64 "video") -> Decoded windows."""
    top_k = None
    if media_type(content_type) in VIDEO_CONTENT_TYPES:
        if not isinstance(body, (bytes, bytearray)) or not body:
            raise InputError(f"empty or non-binary body; expected {EXPECTED}")
        data = bytes(body)
    else:
        parsed = parse_body(body)
        unknown = sorted(set(parsed) - {"video", "top_k"})
        if unknown:
            raise InputError(f"unknown field(s) {', '.join(map(repr, unknown))}; a video request holds video and top_k")
        data, top_k = decode_base64(parsed.get("video"), "video"), parsed.get("top_k")
    top_k = parse_top_k(top_k, limits)
    pixels = extractor.clip_points(data, video_limits)
    return decode_pixels(pixels, "video", top_k, limits)
