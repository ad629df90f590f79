"""No usable keypoints, no answer: a clip with a hand in fewer than `min_hand_frames` frames gets 422
for every input kind; a person object without any keypoint array is a 400; every real clip passes."""
from __future__ import annotations

import base64
import copy
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from handlers.errors import InputError
from handlers.keypoints import MIN_HAND_FRAMES, hand_frames, openpose_to_frames
from handlers.payload import Limits, decode_request
from handlers.video import VideoLimits, decode_video_request
from scripts.wlasl_data import REPO
from tests.conftest import SHARED
from tests.landmark_fixtures import holistic_json, openpose_pose_bytes

LIMITS = Limits(num_samples=50, num_classes=100)
NOSE = [120.0, 60.0, 0.9] + [0.0] * 72  # BODY_25 with only the nose detected


def real_clips() -> dict[str, list[dict]]:
    return {folder.name: [json.loads(path.read_text()) for path in sorted(folder.glob("image_*_keypoints.json"))]
            for folder in sorted((SHARED / "pose").iterdir()) if folder.is_dir()}


def person_frame(pose: list[float], left: list[float] | None = None) -> dict:
    person: dict[str, Any] = {"pose_keypoints_2d": pose, "hand_right_keypoints_2d": [0.0] * 63}
    person["hand_left_keypoints_2d"] = left if left is not None else [0.0] * 63
    return {"version": 1.3, "people": [person]}


def left_hand() -> list[float]:
    return [value for i in range(21) for value in (80.0 + i, 150.0, 0.8)]


def refused(body: Any, content_type: str | None = None, limits: Limits = LIMITS) -> InputError:
    with pytest.raises(InputError) as caught:
        decode_request(body, limits, content_type)
    return caught.value


def test_every_real_clip_shows_enough_hand_frames_and_is_answered() -> None:
    clips = real_clips()
    assert len(clips) >= 13
    counts = {name: hand_frames(openpose_to_frames(frames)) for name, frames in clips.items()}
    assert min(counts.values()) >= MIN_HAND_FRAMES, counts
    for frames in clips.values():
        assert decode_request({"openpose_frames": frames}, LIMITS).windows.shape == (4, 55, 100)


@pytest.mark.parametrize("person, what", [({"pose_keypoints_2d": [0.0] * 75}, "zero keypoints"),
                                          ({"pose_keypoints_2d": NOSE}, "only a nose")])
def test_openpose_clip_without_hands_is_422(person: dict, what: str) -> None:
    error = refused({"openpose_frames": [{"version": 1.3, "people": [person]}] * 20})
    assert error.status == 422, what
    assert "shows a hand in 0 of 20 frames; at least 10 frames" in str(error)


def test_a_person_without_any_keypoint_array_is_400() -> None:
    for frames in ([{"people": [{}]}] * 20, [person_frame(NOSE, left_hand())] * 12 + [{"people": [{"id": 1}]}]):
        error = refused({"openpose_frames": frames})
        assert error.status == 400 and "people[0] has no keypoints: expected pose_keypoints_2d" in str(error)


def test_the_edge_is_the_archive_setting() -> None:
    with_hand, without = person_frame(NOSE, left_hand()), person_frame(NOSE)
    exactly = [without] * 30 + [with_hand] * MIN_HAND_FRAMES
    assert decode_request({"openpose_frames": exactly}, LIMITS).num_frames == 30 + MIN_HAND_FRAMES
    one_short = [without] * 30 + [with_hand] * (MIN_HAND_FRAMES - 1)
    error = refused({"openpose_frames": one_short})
    assert error.status == 422 and f"shows a hand in {MIN_HAND_FRAMES - 1} of {29 + MIN_HAND_FRAMES} frames" in str(error)
    assert decode_request({"openpose_frames": one_short}, Limits(50, 100, min_hand_frames=MIN_HAND_FRAMES - 1))
    assert refused({"openpose_frames": exactly}, limits=Limits(50, 100, min_hand_frames=MIN_HAND_FRAMES + 1)).status == 422


def test_one_hand_point_counts_a_frame() -> None:
    frames = np.zeros((MIN_HAND_FRAMES, 55, 2), np.float32)
    frames[:, 54] = (200.0, 180.0)  # the right hand's last point only
    assert hand_frames(frames) == MIN_HAND_FRAMES
    decode_request({"frames": frames.tolist()}, LIMITS)
    frames[:, 12] = (150.0, 150.0)  # a body point is not a hand
    frames[0, 54] = 0.0
    assert refused({"frames": frames.tolist()}).status == 422


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_every_pixel_input_kind_without_hands_is_422() -> None:
    clip = real_clips()["32162"]
    handless = copy.deepcopy(clip)
    for frame in handless:
        for person in frame["people"]:
            person["hand_left_keypoints_2d"] = person["hand_right_keypoints_2d"] = [0.0] * 63
    pixels = openpose_to_frames(handless)
    pose = base64.b64encode(openpose_pose_bytes(handless)).decode()
    cases = {
        "openpose_frames": ({"openpose_frames": handless}, None),
        "frames": ({"frames": np.zeros((20, 55, 2)).tolist()}, None),
        "npy": (npy(pixels), "application/octet-stream"),
        "mediapipe_frames": ({"mediapipe_frames": holistic_json(handless)}, None),
        "pose_file": ({"pose_file": pose}, None),
    }
    for kind, (body, content_type) in cases.items():
        error = refused(body, content_type)
        assert error.status == 422 and "not enough hand keypoints" in str(error), kind
        assert f"{kind} shows a hand in 0 of" in str(error), (kind, str(error))
    assert decode_request({"pose_file": base64.b64encode(openpose_pose_bytes(clip)).decode()}, LIMITS)
    assert decode_request({"mediapipe_frames": holistic_json(clip)}, LIMITS)


class NoHands:
    """A stand-in for HolisticExtractor that 'detects' a body and no hands in 25 frames."""

    def clip_points(self, data: bytes, limits: VideoLimits) -> np.ndarray:
        points = np.zeros((25, 55, 2), np.float32)
        points[:, :13] = 128.0
        return points


def test_a_video_without_hands_is_422() -> None:
    with pytest.raises(InputError, match="video shows a hand in 0 of 25 frames") as caught:
        decode_video_request(b"\x00" * 16, "video/mp4", LIMITS, VideoLimits(), NoHands())  # type: ignore[arg-type]
    assert caught.value.status == 422


def test_prepared_samples_are_taken_as_they_are() -> None:
    """A (55, 100) sample is already normalised model input: the rule does not apply to it."""
    assert decode_request({"sample": np.full((55, 100), -1.0).tolist()}, LIMITS).kind == "sample"


def test_every_archive_config_sets_the_minimum() -> None:
    for path in sorted(Path(REPO, "configs").glob("asl*.yaml")):
        assert yaml.safe_load(path.read_text())["handler"]["min_hand_frames"] == MIN_HAND_FRAMES, path
