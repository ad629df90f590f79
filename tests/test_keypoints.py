"""Preprocessing: OpenPose parsing, normalisation and the paper's four test windows."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from handlers.tgcn_config import read_config
from handlers.tgcn_model import load_model
from handlers import keypoints
from handlers.errors import InputError
from handlers.keypoints import (frame_indices, frames_to_windows, normalize, openpose_frame_points,
                                openpose_frames_one_by_one, openpose_to_frames)
from tests import reference
from scripts.wlasl_data import REPO
from tests.conftest import CLIP, SHARED


def person_frame(seed: int, hands: bool = True) -> dict:
    """A synthetic OpenPose frame whose points are distinct, seeded values."""
    rng = np.random.default_rng(seed)

    def flat(count: int) -> list[float]:
        values = np.column_stack([rng.uniform(1, 255, (count, 2)), rng.uniform(0.1, 1, count)])
        return [float(v) for v in values.ravel()]

    return {"version": 1.3, "people": [{
        "person_id": [-1], "pose_keypoints_2d": flat(25), "face_keypoints_2d": [],
        "hand_left_keypoints_2d": flat(21) if hands else [], "hand_right_keypoints_2d": flat(21) if hands else [],
        "pose_keypoints_3d": [], "face_keypoints_3d": [], "hand_left_keypoints_3d": [], "hand_right_keypoints_3d": []}]}


def test_point_layout_and_normalisation() -> None:
    frame = person_frame(1)
    points = openpose_frame_points(frame)
    person = frame["people"][0]
    body = np.array(person["pose_keypoints_2d"]).reshape(25, 3)[:, :2]
    left = np.array(person["hand_left_keypoints_2d"]).reshape(21, 3)[:, :2]
    right = np.array(person["hand_right_keypoints_2d"]).reshape(21, 3)[:, :2]
    np.testing.assert_allclose(points[:9], body[:9], rtol=1e-6)
    np.testing.assert_allclose(points[9:13], body[15:19], rtol=1e-6)
    np.testing.assert_allclose(points[13:34], left, rtol=1e-6)
    np.testing.assert_allclose(points[34:], right, rtol=1e-6)
    np.testing.assert_allclose(normalize(np.array([0.0, 128.0, 256.0])), [-1.0, 0.0, 1.0])


def test_missing_hands_are_zero_points() -> None:
    points = openpose_frame_points(person_frame(2, hands=False))
    assert points.shape == (55, 2)
    assert not points[13:].any()
    windows = frames_to_windows(points[None], 50)
    assert np.all(windows[:, 13:] == -1.0)  # (0, 0) before normalisation


def test_interleaving_matches_reference_for_real_clip(clip_frames: list[dict]) -> None:
    expected = reference.clip_input(CLIP).numpy()
    ours = frames_to_windows(openpose_to_frames(clip_frames), 50)
    assert ours.shape == (4, 55, 100)
    np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize("num_frames", [1, 49, 50, 51, 120, 199, 200, 201, 202, 350])
def test_windows_follow_the_papers_k_copies(num_frames: int) -> None:
    expected = np.array(reference.k_copies(1, num_frames)).reshape(4, 50) - 1  # 1-based frame numbers
    np.testing.assert_array_equal(frame_indices(num_frames, 50), expected)
    assert frame_indices(num_frames, 50).min() >= 0
    assert frame_indices(num_frames, 50).max() <= num_frames - 1


@pytest.mark.parametrize("num_frames", [1, 49, 50, 51, 200, 201])
def test_window_contents_for_edge_lengths(num_frames: int) -> None:
    pixels = np.zeros((num_frames, 55, 2), dtype=np.float32)
    pixels[:, 0, 0] = np.arange(num_frames)  # frame number in the nose's x
    windows = frames_to_windows(pixels, 50)
    assert windows.shape == (4, 55, 100) and windows.dtype == np.float32
    seen = np.rint((windows[:, 0, 0::2] / 2 + 0.5) * 256).astype(int)  # undo normalisation of x
    np.testing.assert_array_equal(seen, frame_indices(num_frames, 50))
    if num_frames <= 50:
        assert (seen[:, num_frames - 1:] == num_frames - 1).all()  # padded with the last frame
    if num_frames == 201:
        np.testing.assert_array_equal(seen.ravel(), np.arange(200))  # centred: frames 1..200


def test_well_formed_frames_take_the_vectorised_path(clip_frames: list[dict], monkeypatch: pytest.MonkeyPatch) -> None:
    expected = openpose_frames_one_by_one(clip_frames)
    monkeypatch.setattr(keypoints, "openpose_frames_one_by_one", None)  # calling it now would fail
    frames = [person_frame(1, hands=False), {"people": []}, *clip_frames]
    np.testing.assert_array_equal(openpose_to_frames(clip_frames), expected)
    assert openpose_to_frames(frames).shape == (len(frames), 55, 2)


def test_frame_without_person_repeats_previous() -> None:
    first, second = person_frame(3), person_frame(4)
    empty = {"version": 1.3, "people": []}
    pixels = openpose_to_frames([empty, first, empty, second, empty])
    assert len(pixels) == 4  # the leading empty frame has nothing to repeat
    np.testing.assert_array_equal(pixels[1], pixels[0])
    np.testing.assert_array_equal(pixels[3], pixels[2])
    assert not np.array_equal(pixels[0], pixels[2])


def test_no_person_anywhere_is_422() -> None:
    with pytest.raises(InputError) as error:
        openpose_to_frames([{"people": []}] * 3)
    assert error.value.status == 422 and "no person" in str(error.value)


@pytest.mark.parametrize("mutate, message", [
    (lambda f: f["people"][0].update(pose_keypoints_2d=[0.0] * 54), "BODY_25"),
    (lambda f: f["people"][0].update(hand_left_keypoints_2d=[1.0] * 62), "hand_left_keypoints_2d"),
    (lambda f: f["people"][0]["pose_keypoints_2d"].__setitem__(4, "x"), "only numbers"),
    (lambda f: f["people"][0]["pose_keypoints_2d"].__setitem__(4, float("nan")), "NaN"),
    (lambda f: f.pop("people"), "'people' list"),
    (lambda f: f.update(people=[[1, 2]]), "must be an object"),
])
def test_malformed_frames_are_named(mutate, message: str) -> None:
    frame = copy.deepcopy(person_frame(5))
    mutate(frame)
    with pytest.raises(InputError, match=message):
        openpose_to_frames([person_frame(6), frame])


def test_reference_forward_agrees_with_model() -> None:
    path = SHARED / "checkpoints" / "asl300" / "ckpt.pth"
    model = load_model(path, read_config(REPO / "configs" / "asl300.ini"), 300)
    x = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (3, 55, 100)).astype(np.float32))
    state = torch.load(path, map_location="cpu", weights_only=True)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference.forward(state, x, 20), atol=1e-4, rtol=1e-4)
