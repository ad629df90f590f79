"""Video bytes -> 55-point frames: decode with PyAV from memory, MediaPipe Holistic per frame, map.

Runs only where MediaPipe 0.10.21 is installed (.venv-video, requirements-video.txt). Holistic uses
model_complexity=1, whose models (pose_landmark_full, hand_landmark_full, palm and pose detection)
ship inside the wheel: complexities 0 and 2 would download a model at run time, so they are refused.

Accepted requests: the raw video as the body with Content-Type video/mp4, video/webm or
video/x-msvideo (video/avi), or JSON {"video": "<base64 of the file>", "top_k": k, "framing": .., "mirrored": ..}
(framing and mirrored: handlers/framing.py; a raw body gets the archive's default framing for "video").
The decoded picture's size is kept: its aspect ratio is preserved in the 256-pixel frame.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from handlers.errors import InputError
from handlers.framing import FramingSettings, parse_mirrored
from handlers.keypoints import fill_empty_frames
from handlers.mediapipe_map import holistic_to_points
from handlers.payload import (FRAMING_KEYS, VIDEO_CONTENT_TYPES, Decoded, Limits, decode_base64, decode_pixels,
                              media_type, parse_body, parse_top_k)

OFFLINE_COMPLEXITY = 1
Parts = tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]
EXPECTED = "an mp4, webm or avi video (Content-Type " + ", ".join(VIDEO_CONTENT_TYPES) + ", or JSON {\"video\": base64})"


@dataclass(frozen=True)
class VideoLimits:
    """Per-archive video limits (model-config.yaml handler.video_*)."""

    max_frames: int = 600
    max_side: int = 640  # frames are scaled down so that their longer side is at most this
    extractor: str = "holistic"  # a key of EXTRACTORS
    stride: int = 1  # landmarks on every stride-th frame, interpolated between (clip_points)


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
        """Video bytes -> (T, 55, 2) pixel points (frames with no person: see fill_empty_frames).
        With limits.stride k > 1 only every k-th frame (and the last) goes through the extractor; the
        frames between get the points linearly interpolated (interpolate)."""
        sizes: list[tuple[int, int]] = []
        indices: list[int] = []

        def frames() -> Iterator[np.ndarray]:
            held = None
            for index, rgb in enumerate(decode_frames(data, limits)):
                sizes[:] = [(rgb.shape[1], rgb.shape[0])]  # the picture's aspect ratio, kept in the 256 frame
                if index % limits.stride == 0:
                    indices.append(index)
                    held = None
                    yield rgb
                else:
                    held = (index, rgb)
            if held is not None:
                indices.append(held[0])
                yield held[1]
        points = [None if all(part is None for part in parts) else holistic_to_points(*parts, image_size=sizes[0])
                  for parts in self.landmarks(frames())]
        return fill_empty_frames(interpolate(points, indices), "video frames")


def interpolate(points: list[np.ndarray | None], indices: list[int]) -> list[np.ndarray | None]:
    """Per-frame points known at increasing frame `indices` (the last one is the clip's last frame)
    -> points for every frame: a point present on both sides is interpolated linearly; otherwise the
    earlier extracted frame is held (None stays None: fill_empty_frames repeats the frame before)."""
    out: list[np.ndarray | None] = [None] * (indices[-1] + 1)
    for (start, before), (end, after) in zip(zip(indices, points), zip(indices[1:], points[1:])):
        out[start] = before
        for t in range(start + 1, end):
            if before is None or after is None:
                out[t] = before
                continue
            weight = np.float32((t - start) / (end - start))
            both = before.any(axis=-1, keepdims=True) & after.any(axis=-1, keepdims=True)
            out[t] = np.where(both, (1 - weight) * before + weight * after, before)
    out[indices[-1]] = points[-1]
    return out


class PoseHandsExtractor(HolisticExtractor):
    """MediaPipe's legacy Pose (model_complexity 1) and Hands solutions, both in the wheel, instead of
    Holistic: no face mesh and no hand re-crop model. Each hand Hands finds is given to the side whose
    pose wrist (15 left, 16 right) is nearer; without a pose, Hands' own label decides (it assumes a
    mirrored picture, so its "Left" is the person's right hand here). Same output as HolisticExtractor."""

    def __init__(self, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5,
                 hand_complexity: int = 0) -> None:
        from mediapipe.python.solutions import hands, pose

        self._pose, self._hands = pose, hands
        common = dict(static_image_mode=False, min_detection_confidence=min_detection_confidence,
                      min_tracking_confidence=min_tracking_confidence)
        self._pose_options = dict(common, model_complexity=OFFLINE_COMPLEXITY, smooth_landmarks=True)
        self._hands_options = dict(common, model_complexity=hand_complexity, max_num_hands=2)

    def landmarks(self, frames: Iterator[np.ndarray]) -> Iterator[Parts]:
        """As HolisticExtractor.landmarks; fresh graphs per clip."""
        with self._pose.Pose(**self._pose_options) as pose_model, self._hands.Hands(**self._hands_options) as hand_model:
            for rgb in frames:
                found = pose_model.process(rgb).pose_landmarks
                pose = None if found is None else np.array([[p.x, p.y] for p in found.landmark], dtype=np.float32)
                hands = hand_model.process(rgb)
                detected = [(np.array([[p.x, p.y] for p in hand.landmark], dtype=np.float32),
                             handedness.classification[0].label)
                            for hand, handedness in zip(hands.multi_hand_landmarks or (), hands.multi_handedness or ())]
                yield (pose, *assign_hands(pose, detected))


def assign_hands(pose: np.ndarray | None, detected: list[tuple[np.ndarray, str]]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Hands (21, 2) with Hands' label -> (left, right) of the person: by the nearer pose wrist (the
    pairing with the smaller total distance when there are two), else by the label, read as mirrored."""
    sides: dict[str, np.ndarray] = {}
    if pose is not None and detected:
        wrists = pose[[15, 16]]  # the person's left, right wrist
        if len(detected) == 1:
            distance = np.linalg.norm(wrists - detected[0][0][0], axis=1)
            sides["left" if distance[0] <= distance[1] else "right"] = detected[0][0]
        else:
            (a, _), (b, _) = detected[:2]
            straight = np.linalg.norm(wrists[0] - a[0]) + np.linalg.norm(wrists[1] - b[0])
            crossed = np.linalg.norm(wrists[0] - b[0]) + np.linalg.norm(wrists[1] - a[0])
            sides["left"], sides["right"] = (a, b) if straight <= crossed else (b, a)
    else:
        for points, label in detected:
            sides.setdefault("right" if label == "Left" else "left", points)
    return sides.get("left"), sides.get("right")


EXTRACTORS = {"holistic": HolisticExtractor, "pose_hands": PoseHandsExtractor}


def decode_video_request(body: Any, content_type: str | None, limits: Limits, video_limits: VideoLimits,
                         extractor: HolisticExtractor, framing: FramingSettings = FramingSettings()) -> Decoded:
    """A video request (raw bytes or JSON with base64 "video") -> Decoded windows."""
    options: dict[str, Any] = {}
    if media_type(content_type) in VIDEO_CONTENT_TYPES:
        if not isinstance(body, (bytes, bytearray)) or not body:
            raise InputError(f"empty or non-binary body; expected {EXPECTED}")
        data = bytes(body)
    else:
        options = parse_body(body)
        unknown = sorted(set(options) - {"video", "top_k", *FRAMING_KEYS})
        if unknown:
            raise InputError(f"unknown field(s) {', '.join(map(repr, unknown))}; a video request holds video, "
                             f"top_k, {', '.join(FRAMING_KEYS)}")
        data = decode_base64(options.get("video"), "video")
    top_k = parse_top_k(options.get("top_k"), limits)
    framing.choose("video", options.get("framing"))  # bad options are refused before the video is processed
    parse_mirrored(options.get("mirrored"))
    pixels = extractor.clip_points(data, video_limits)
    return decode_pixels(pixels, "video", top_k, limits, options, framing)
