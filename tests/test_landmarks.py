"""MediaPipe Holistic landmarks and pose-format .pose files -> the 55-point layout, offline and live."""
from __future__ import annotations

import base64
import json

import av
import numpy as np
import pytest
import requests
from PIL import Image, ImageSequence

from handlers.errors import InputError
from handlers.keypoints import openpose_to_frames
from handlers.mediapipe_map import holistic_to_points, mediapipe_to_frames
from handlers.payload import Limits, decode_request
from handlers.pose_file import pose_to_frames
from scripts.client import predict as predict_cli
from scripts.tools import render_skeleton
from scripts.serve.torchserve_ctl import TorchServe
from tests.conftest import CLIP
from tests.landmark_fixtures import (NumPyPoseBody, Pose, PoseHeader, PoseHeaderDimensions, component, holistic_json,
                                     holistic_pose_bytes, landmark_list, neck_from_shoulders, openpose_pose_bytes, write)

LIMITS = Limits(num_samples=50, num_classes=100)


def hand_made() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct non-zero landmarks: pose i = (i + 1, i + 40) / 100, left i = (i + 1, 1) / 50, right i = (1, i + 1) / 50."""
    pose = np.column_stack([np.arange(33) + 1, np.arange(33) + 40]) / 100
    left = np.column_stack([np.arange(21) + 1, np.ones(21)]) / 50
    right = np.column_stack([np.ones(21), np.arange(21) + 1]) / 50
    return pose, left, right


def test_mapping_indices_and_scaling() -> None:
    pose, left, right = hand_made()
    points = holistic_to_points(pose, left, right)
    assert points.shape == (55, 2) and points.dtype == np.float32
    singles = {0: 0, 2: 12, 3: 14, 4: 16, 5: 11, 6: 13, 7: 15, 9: 5, 10: 2, 11: 8, 12: 7}
    for slot, source in singles.items():
        np.testing.assert_allclose(points[slot], pose[source] * 256, rtol=1e-6, err_msg=f"slot {slot}")
    np.testing.assert_allclose(points[1], (pose[11] + pose[12]) / 2 * 256, rtol=1e-6)  # neck
    np.testing.assert_allclose(points[8], (pose[23] + pose[24]) / 2 * 256, rtol=1e-6)  # mid-hip
    np.testing.assert_allclose(points[13:34], left * 256, rtol=1e-6)
    np.testing.assert_allclose(points[34:55], right * 256, rtol=1e-6)


def test_missing_parts_become_zero() -> None:
    pose, left, right = hand_made()
    no_hands = holistic_to_points(pose, None, None)
    assert not no_hands[13:].any() and no_hands[:13].all()
    no_pose = holistic_to_points(None, left, right)
    assert not no_pose[:13].any()
    np.testing.assert_allclose(no_pose[13:34], left * 256, rtol=1e-6)
    one_shoulder = pose.copy()
    one_shoulder[12] = 0.0
    np.testing.assert_allclose(holistic_to_points(one_shoulder, None, None)[1], pose[11] * 256, rtol=1e-6)
    off_picture = pose.copy()
    off_picture[[23, 24], 1] = (1.2, 1.3)  # hips below the picture: missing, so mid-hip is (0, 0)
    off_picture[15] = (-0.01, 0.5)  # left wrist just left of it
    points = holistic_to_points(off_picture, left, right)
    assert not points[8].any() and not points[7].any() and points[6].all()


def test_mediapipe_json_frames() -> None:
    pose, left, right = hand_made()
    frame = {"pose": landmark_list(pose), "left_hand": landmark_list(left), "right_hand": None, "face": []}
    frames = mediapipe_to_frames([{}, frame, {"pose": None, "left_hand": []}, frame])
    assert frames.shape == (3, 55, 2)  # leading empty frame dropped, the empty one repeats its predecessor
    np.testing.assert_array_equal(frames[0], frames[1])
    np.testing.assert_allclose(frames[0], holistic_to_points(pose, left, None), rtol=1e-6)


def test_image_size_keeps_the_aspect_ratio() -> None:
    pose, left, right = hand_made()
    frame = {"pose": landmark_list(pose), "left_hand": landmark_list(left), "right_hand": landmark_list(right)}
    clip = [frame] * LIMITS.min_hand_frames
    wide = decode_request({"mediapipe_frames": clip, "image_width": 1280, "image_height": 720}, LIMITS)
    squashed = decode_request({"mediapipe_frames": clip}, LIMITS)
    # 1280x720 fitted into 256x256: 256 x 144, centred vertically (56 px bands above and below).
    points = holistic_to_points(pose, left, right, image_size=(1280, 720))
    np.testing.assert_allclose(points[13:34], left * (256, 144) + (0, 56), rtol=1e-6)
    np.testing.assert_allclose(points[0], pose[0] * (256, 144) + (0, 56), rtol=1e-6)
    np.testing.assert_allclose(holistic_to_points(pose, left, right, image_size=(300, 400))[34:],
                               right * (192, 256) + (32, 0), rtol=1e-6)  # portrait: bands left and right
    np.testing.assert_allclose(holistic_to_points(pose, left, right, image_size=(500, 500)),
                               holistic_to_points(pose, left, right), rtol=1e-6)  # square: same as without
    assert not np.allclose(wide.windows, squashed.windows)
    np.testing.assert_allclose(wide.windows[0, :, 0:2], (points / 256 - 0.5) * 2, rtol=1e-5)  # [x, y] of frame 0


@pytest.mark.parametrize("extra, message", [
    ({"image_width": 640}, "image_width and image_height go together"),
    ({"image_width": 640, "image_height": 0}, "image_height must be an integer number of pixels in 1..16384, got 0"),
    ({"image_width": True, "image_height": 480}, "image_width must be an integer number of pixels"),
    ({"image_width": 640.5, "image_height": 480}, "image_width must be an integer number of pixels"),
    ({"image_width": "640", "image_height": 480}, "image_width must be an integer number of pixels"),
])
def test_image_size_errors(extra: dict, message: str) -> None:
    pose, left, right = hand_made()
    frame = {"pose": landmark_list(pose), "left_hand": landmark_list(left), "right_hand": None}
    with pytest.raises(InputError, match=message.replace("(", r"\(")) as caught:
        decode_request({"mediapipe_frames": [frame], **extra}, LIMITS)
    assert caught.value.status == 400


def test_image_size_only_with_mediapipe_frames(clip_frames: list[dict]) -> None:
    with pytest.raises(InputError, match="image_width and image_height describe mediapipe_frames; openpose_frames"):
        decode_request({"openpose_frames": clip_frames, "image_width": 640, "image_height": 480}, LIMITS)


@pytest.mark.parametrize("frames, message, status", [
    ([{}, {}], "no person was detected in any of the 2 MediaPipe frames", 422),
    ([{"pose": [{"x": 0.1, "y": 0.2}] * 32}], "mediapipe_frames[0].pose must be null or a list of 33 landmarks", 400),
    ([{"left_hand": [{"x": 0.1}] * 21}], "numeric x and y", 400),
    ([{"lefthand": []}], "unknown field(s) 'lefthand'; expected pose, left_hand, right_hand", 400),
    ([["not", "a", "frame"]], "mediapipe_frames[0] must be an object", 400),
    ([], "non-empty list of Holistic frame objects", 400),
])
def test_mediapipe_json_errors(frames: list, message: str, status: int) -> None:
    with pytest.raises(InputError) as caught:
        decode_request({"mediapipe_frames": frames}, LIMITS)
    assert message in str(caught.value) and caught.value.status == status


def test_holistic_and_pose_inputs_match_openpose_windows(clip_frames: list[dict]) -> None:
    openpose = decode_request({"openpose_frames": neck_from_shoulders(clip_frames)}, LIMITS).windows
    mediapipe = decode_request({"mediapipe_frames": holistic_json(clip_frames)}, LIMITS)
    assert mediapipe.kind == "mediapipe_frames" and mediapipe.num_frames == len(clip_frames)
    np.testing.assert_allclose(mediapipe.windows, openpose, atol=1e-6)
    openpose_file = decode_request(openpose_pose_bytes(clip_frames), LIMITS, "application/x-pose; v=1")
    plain = decode_request({"openpose_frames": clip_frames}, LIMITS).windows
    np.testing.assert_array_equal(openpose_file.windows, plain)


def test_pose_file_keeps_the_aspect_ratio(clip_frames: list[dict]) -> None:
    """The 256-pixel view placed undistorted in a 512 x 384 video comes back uniformly scaled by 0.75
    about the centre (384/512: the 4:3 picture letterboxed), never squashed; missing points stay (0, 0)."""
    reference = openpose_to_frames(neck_from_shoulders(clip_frames))
    shown = reference.any(axis=-1)
    for width, height in ((512, 384), (384, 512)):
        pixels = pose_to_frames(holistic_pose_bytes(clip_frames, width, height), 5000)
        np.testing.assert_allclose(pixels[shown], 0.75 * (reference[shown] - 128) + 128, atol=1e-3)
        assert not pixels[~shown].any()
    square = pose_to_frames(holistic_pose_bytes(clip_frames, 256, 256), 5000)
    np.testing.assert_allclose(square, reference, atol=1e-3)


def test_pose_file_errors(clip_frames: list[dict]) -> None:
    good = openpose_pose_bytes(clip_frames[:3])
    for body, message in [(b"\x00\x01garbage", "not a readable pose-format .pose file"),
                          (good[: len(good) // 2], "not a readable pose-format .pose file"),
                          (b"", "must be the bytes of a pose-format .pose file")]:
        with pytest.raises(InputError, match="pose") as caught:
            decode_request(body, LIMITS, "application/x-pose")
        assert message in str(caught.value) and caught.value.status == 400
    header = PoseHeader(0.2, PoseHeaderDimensions(256, 256, 0), [component("BODY", 17)])
    odd = write(Pose(header, NumPyPoseBody(25.0, np.ones((2, 1, 17, 3), np.float32), np.ones((2, 1, 17), np.float32))))
    with pytest.raises(InputError, match=r"components are BODY \(17\); expected the holistic: POSE_LANDMARKS \(33\)"):
        decode_request(odd, LIMITS, "application/x-pose")
    with pytest.raises(InputError, match="pose_file is not valid base64"):
        decode_request({"pose_file": "***"}, LIMITS)
    with pytest.raises(InputError, match="not video/mp4") as caught:
        decode_request(b"\x00\x00\x00\x18ftypmp42", LIMITS, "video/mp4")
    assert caught.value.status == 415


def post(server: TorchServe, model: str, **kwargs) -> requests.Response:
    return requests.post(f"{server.inference_url}/predictions/{model}", headers={**server.headers(), **kwargs.pop("headers", {})},
                         timeout=60, **kwargs)


def test_live_landmarks_and_pose_files_match_openpose_path(server: TorchServe, clip_frames: list[dict]) -> None:
    """Camera inputs default to framing "body": each equals the OpenPose path asked for "body"; with
    framing "frame" an OpenPose-layout .pose file is the paper's path exactly."""
    reference = post(server, "asl100", json={"openpose_frames": neck_from_shoulders(clip_frames), "top_k": 10,
                                             "framing": "body"})
    original = post(server, "asl100", json={"openpose_frames": clip_frames, "top_k": 10})
    assert reference.status_code == original.status_code == 200
    expected = reference.json()["top_k"]
    answers = {
        "mediapipe_frames": post(server, "asl100", json={"mediapipe_frames": holistic_json(clip_frames), "top_k": 10}),
        "holistic .pose": post(server, "asl100", data=holistic_pose_bytes(clip_frames, 640, 480),
                               headers={"Content-Type": "application/x-pose"}),
        "pose_file field": post(server, "asl100", json={"top_k": 10, "pose_file": base64.b64encode(
            holistic_pose_bytes(clip_frames, 256, 256, extra_face=False)).decode()}),
    }
    for name, answer in answers.items():
        assert answer.status_code == 200, (name, answer.text)
        top = answer.json()["top_k"]
        assert [e["index"] for e in top] == [e["index"] for e in expected[:len(top)]], name
        for got, want in zip(top, expected):
            assert got["probability"] == pytest.approx(want["probability"], abs=1e-4), name
    assert expected[0]["gloss"] == original.json()["top_k"][0]["gloss"] == "language"
    assert expected[0]["probability"] == pytest.approx(original.json()["top_k"][0]["probability"], abs=1e-3)
    paper = post(server, "asl100", json={"pose_file": base64.b64encode(openpose_pose_bytes(clip_frames)).decode(),
                                         "framing": "frame", "top_k": 10})
    assert paper.status_code == 200 and paper.json()["top_k"] == original.json()["top_k"]


def test_live_bad_pose_and_video_bodies_get_4xx(server: TorchServe) -> None:
    corrupt = post(server, "asl100", data=b"\x00\x01 not a pose", headers={"Content-Type": "application/x-pose"})
    assert corrupt.status_code == 400 and "pose-format .pose file" in corrupt.json()["error"]
    video = post(server, "asl100", data=b"\x00\x00\x00\x18ftypmp42", headers={"Content-Type": "video/mp4"})
    assert video.status_code == 415 and "takes keypoints, not video/mp4" in video.json()["error"]
    assert post(server, "asl100", json={"mediapipe_frames": [{}]}).status_code == 422


def test_cli_sends_pose_file(server: TorchServe, clip_frames: list[dict], tmp_path, capsys) -> None:
    path = tmp_path / "clip.pose"
    path.write_bytes(openpose_pose_bytes(clip_frames))
    code = predict_cli.main([str(path), "--url", server.inference_url, "--key-file", str(server.key_file), "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["top_k"][0]["gloss"] == "language"


@pytest.mark.parametrize("suffix", ["gif", "mp4"])
def test_render_skeleton(clip_frames: list[dict], tmp_path, suffix: str) -> None:
    output = tmp_path / f"clip.{suffix}"
    assert render_skeleton.main([str(CLIP), "-o", str(output)]) == 0
    if suffix == "gif":
        frames = [frame.convert("RGB") for frame in ImageSequence.Iterator(Image.open(output))]
    else:
        with av.open(str(output)) as container:
            frames = [frame.to_image() for frame in container.decode(video=0)]
    assert len(frames) == len(clip_frames) and frames[0].size == (256, 256)
    nose = np.array(clip_frames[0]["people"][0]["pose_keypoints_2d"][:2]).round().astype(int)
    first = np.asarray(frames[0], dtype=int)
    assert first[nose[1], nose[0]].sum() > 600  # a white joint dot is drawn at the nose
    assert first[5, 5].sum() < 150  # background far from the signer
