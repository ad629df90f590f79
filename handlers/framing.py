"""Framing: where and how large the signer appears in the model's 256-pixel frame (pure numpy).

The released weights saw OpenPose keypoints of WLASL clips, whose signers stand at a typical place
and size. Two framings (the `framing` request field, per-archive defaults per input kind in
model-config.yaml `handler.framing`; docs/framing.md has the measurements behind the defaults):
- "frame": the points as the input put them into the 256-pixel frame (for OpenPose JSON and
  `frames`: the paper's preprocessing, unchanged);
- "body": aspect-preserving, body-anchored: the clip is shifted and uniformly scaled so that its
  median neck lands on the training clips' mean neck and its median shoulder width becomes theirs
  (BodyStats, written to configs/framing.yaml by scripts/tools/framing_stats.py). A clip in which no
  frame shows the neck and both shoulders keeps "frame".
`mirrored: true` marks a mirrored (selfie) source: x is reflected about the frame's centre and the
person's left and right are swapped (body sides and hands), before the framing is applied.
Missing points stay (0, 0) throughout.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from handlers.errors import InputError
from handlers.keypoints import FRAME_SIZE, HAND_POINTS

FRAMINGS = ("frame", "body")
NECK, RIGHT_SHOULDER, LEFT_SHOULDER = 1, 2, 5
LEFT_HAND = slice(13, 13 + HAND_POINTS)
RIGHT_HAND = slice(13 + HAND_POINTS, 13 + 2 * HAND_POINTS)
# Slot order after swapping the person's sides: R/L shoulder, elbow, wrist; eyes; ears; the hands.
MIRRORED_SLOTS = np.array([0, 1, 5, 6, 7, 2, 3, 4, 8, 10, 9, 12, 11]
                          + list(range(RIGHT_HAND.start, RIGHT_HAND.stop)) + list(range(LEFT_HAND.start, LEFT_HAND.stop)))


@dataclass(frozen=True)
class BodyStats:
    """Where the training signers' neck is and how wide their shoulders are, in 256-frame pixels."""

    neck_x: float
    neck_y: float
    shoulder_width: float

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> BodyStats:
        """From configs/framing.yaml's `body:` section (KeyError/ValueError when malformed)."""
        stats = cls(float(data["neck_x"]), float(data["neck_y"]), float(data["shoulder_width"]))
        if not stats.shoulder_width > 0:
            raise ValueError(f"shoulder_width must be positive, got {stats.shoulder_width}")
        return stats


@dataclass(frozen=True)
class FramingSettings:
    """An archive's framing: the body statistics and the default framing of each input kind."""

    stats: BodyStats | None = None
    defaults: Mapping[str, str] = field(default_factory=dict)

    def choose(self, kind: str, requested: Any) -> str:
        """The framing for one request: the requested one (validated), else the kind's default ("frame")."""
        if requested is None:
            return self.defaults.get(kind, "frame")
        if requested not in FRAMINGS:
            raise InputError(f"framing must be one of {', '.join(map(repr, FRAMINGS))}, got {requested!r:.40}")
        if requested == "body" and self.stats is None:
            raise InputError("framing 'body' is not available: this archive has no framing statistics", status=400)
        return requested


def parse_mirrored(value: Any) -> bool:
    """The optional `mirrored` request field: true for a mirrored (selfie) source."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InputError(f"mirrored must be true or false, got {value!r:.40}")
    return value


def present(pixels: np.ndarray) -> np.ndarray:
    """(..., 55) mask of the points that are not missing (0, 0)."""
    return np.any(pixels != 0, axis=-1)


def unmirror(pixels: np.ndarray) -> np.ndarray:
    """(T, 55, 2) points of a mirrored source -> the person as seen unmirrored: x reflected about the
    frame's centre and the person's left and right slots swapped."""
    flipped = pixels[:, MIRRORED_SLOTS].copy()
    flipped[..., 0] = FRAME_SIZE - flipped[..., 0]
    return np.where(present(pixels[:, MIRRORED_SLOTS])[..., None], flipped, np.float32(0)).astype(np.float32)


def body_anchor(pixels: np.ndarray) -> tuple[np.ndarray, float] | None:
    """The clip's median neck (2,) and median shoulder width over the frames that show the neck and
    both shoulders, or None when none does."""
    shown = present(pixels[:, [NECK, RIGHT_SHOULDER, LEFT_SHOULDER]]).all(axis=1)
    if not shown.any():
        return None
    frames = pixels[shown].astype(np.float64)
    widths = np.linalg.norm(frames[:, RIGHT_SHOULDER] - frames[:, LEFT_SHOULDER], axis=-1)
    width = float(np.median(widths))
    if not width > 0:
        return None
    return np.median(frames[:, NECK], axis=0), width


def body_frame(pixels: np.ndarray, stats: BodyStats) -> np.ndarray:
    """(T, 55, 2) points -> the same clip shifted and uniformly scaled to the training signers'
    neck position and shoulder width (unchanged when no frame shows the neck and both shoulders)."""
    anchor = body_anchor(pixels)
    if anchor is None:
        return pixels
    neck, width = anchor
    scale = stats.shoulder_width / width
    moved = (pixels - neck) * scale + np.array([stats.neck_x, stats.neck_y])
    return np.where(present(pixels)[..., None], moved, 0.0).astype(np.float32)


def frame_points(pixels: np.ndarray, framing: str, stats: BodyStats | None, mirrored: bool = False) -> np.ndarray:
    """Apply `mirrored` (un-mirror) and then the framing ("frame" leaves the points as they are)."""
    if mirrored:
        pixels = unmirror(pixels)
    if framing == "body":
        if stats is None:
            raise InputError("framing 'body' is not available: this archive has no framing statistics")
        return body_frame(pixels, stats)
    return pixels


def framed(pixels: np.ndarray, kind: str, options: dict[str, Any], framing: FramingSettings) -> np.ndarray:
    """(T, 55, 2) pixel points -> the points in the framing the request asked for (or its kind's
    default), un-mirrored when `mirrored` is true."""
    chosen = framing.choose(kind, options.get("framing"))
    return frame_points(pixels, chosen, framing.stats, parse_mirrored(options.get("mirrored")))


FRAMED_KINDS = ("openpose_frames", "frames", "npy", "mediapipe_frames", "pose_file", "video")
STATS_FILE = "framing.yaml"


def load_settings(stats_file: Path | None, defaults: Mapping[str, Any] | None) -> FramingSettings:
    """An archive's framing: `framing.yaml` (configs/framing.yaml, shipped by the build; absent: no
    "body" framing) and model-config.yaml's `handler.framing` {input kind: framing}. A malformed
    setting is the archive's fault: ValueError naming it."""
    import yaml

    stats = None
    if stats_file is not None and stats_file.is_file():
        data = yaml.safe_load(stats_file.read_text(encoding="utf-8")) or {}
        try:
            stats = BodyStats.from_mapping(data["body"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{stats_file}: no valid body: neck_x, neck_y, shoulder_width ({exc})") from None
    chosen = dict(defaults or {})
    for kind, framing in chosen.items():
        if kind not in FRAMED_KINDS or framing not in FRAMINGS:
            raise ValueError(f"handler.framing: {kind}: {framing!r}; input kinds are {', '.join(FRAMED_KINDS)} "
                             f"and framings {', '.join(FRAMINGS)}")
        if framing == "body" and stats is None:
            raise ValueError(f"handler.framing: {kind}: body needs {STATS_FILE} in the archive")
    return FramingSettings(stats, chosen)
