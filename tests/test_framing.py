"""Framing (handlers/framing.py), aspect ratio and handedness for every keypoint input kind."""
from __future__ import annotations

import base64
import copy
import io

import av
import numpy as np
import pytest
import yaml

from handlers.errors import InputError
from handlers.framing import (BodyStats, FramingSettings, body_anchor, body_frame, load_settings, unmirror)
from handlers.keypoints import openpose_to_frames
from handlers.payload import Limits, decode_request
from handlers.video import HolisticExtractor, VideoLimits, decode_video_request
from scripts.tools import framing_stats
from scripts.wlasl_data import REPO
from tests.conftest import SHARED
from tests.landmark_fixtures import holistic_json, holistic_parts, holistic_pose_bytes, openpose_pose_bytes

LIMITS = Limits(num_samples=50, num_classes=100, min_hand_frames=1)  # short made-up clips; the rule: test_hands.py
STATS_FILE = REPO / "configs" / "framing.yaml"
SETTINGS = load_settings(STATS_FILE, yaml.safe_load((REPO / "configs" / "asl100.yaml").read_text())["handler"]["framing"])
FRAME_ONLY = FramingSettings(SETTINGS.stats, {})  # every kind "frame": the points as the input gives them
# BODY_25 left/right pairs (shoulder, elbow, wrist, eye, ear, hip, knee, ankle, feet): a mirror swaps them.
BODY25_PAIRS = ((2, 5), (3, 6), (4, 7), (9, 12), (10, 13), (11, 14), (15, 16), (17, 18), (19, 22), (20, 23), (21, 24))
LEFT_X, RIGHT_X = 190.0, 62.0  # a signer facing the camera: their left hand is on the image's right


def person_frames(count: int = 6) -> list[dict]:
    """OpenPose frames of a synthetic signer facing the camera in the 256 frame: neck (128, 100),
    shoulders 84 px apart, the left hand around x=190, the right around x=62."""
    frames = []
    for t in range(count):
        body = np.zeros((25, 3))
        for index, (x, y) in {0: (128, 70), 1: (128, 100), 2: (86, 100), 3: (75, 140), 4: (RIGHT_X, 170),
                              5: (170, 100), 6: (181, 140), 7: (LEFT_X, 170), 8: (128, 200), 15: (122, 65),
                              16: (134, 65), 17: (115, 68), 18: (141, 68)}.items():
            body[index] = (x, y + t, 1.0)
        hand = lambda x: np.column_stack([x + np.arange(21) % 5, 160 + t + np.arange(21) // 5 * 3, np.ones(21)])
        frames.append({"people": [{"pose_keypoints_2d": body.ravel().tolist(),
                                   "hand_left_keypoints_2d": hand(LEFT_X).ravel().tolist(),
                                   "hand_right_keypoints_2d": hand(RIGHT_X).ravel().tolist()}]})
    return frames


def mirrored_source(frames: list[dict]) -> list[dict]:
    """What an extractor reports for the horizontally mirrored (selfie) picture: x -> 256 - x, and the
    sides named by appearance, so the person's left hand is reported as the right one."""
    out = copy.deepcopy(frames)
    for frame in out:
        person = frame["people"][0]
        body = np.array(person["pose_keypoints_2d"]).reshape(25, 3)
        for a, b in BODY25_PAIRS:
            body[[a, b]] = body[[b, a]]
        left = np.array(person["hand_right_keypoints_2d"]).reshape(21, 3)
        right = np.array(person["hand_left_keypoints_2d"]).reshape(21, 3)
        for part in (body, left, right):
            part[:, 0] = np.where(part[:, 2] > 0, 256.0 - part[:, 0], 0.0)
        person.update(pose_keypoints_2d=body.ravel().tolist(), hand_left_keypoints_2d=left.ravel().tolist(),
                      hand_right_keypoints_2d=right.ravel().tolist())
    return out


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array.astype(np.float32))
    return buffer.getvalue()


def requests_of_every_kind(frames: list[dict], mirrored: bool) -> dict[str, tuple[object, str | None]]:
    """The same clip as each keypoint input kind: (body, content type), with mirrored and framing frame."""
    options = {"mirrored": True} if mirrored else {}
    pixels = openpose_to_frames(frames)
    pose_b64 = base64.b64encode(holistic_pose_bytes(frames, 640, 480)).decode()
    return {
        "openpose_frames": ({"openpose_frames": frames, **options}, None),
        "frames": ({"frames": pixels.tolist(), **options}, None),
        "mediapipe_frames": ({"mediapipe_frames": holistic_json(frames), **options}, None),
        "mediapipe_frames 16:9": ({"mediapipe_frames": holistic_json(frames), "image_width": 1280,
                                   "image_height": 720, **options}, None),
        "pose_file holistic 4:3": ({"pose_file": pose_b64, **options}, None),
        "pose_file openpose": ({"pose_file": base64.b64encode(openpose_pose_bytes(frames)).decode(), **options}, None),
        **({} if mirrored else {"npy": (npy(pixels), None),
                                "application/x-pose": (holistic_pose_bytes(frames, 480, 640), "application/x-pose")}),
    }


def pixels_of(windows: np.ndarray) -> np.ndarray:
    """Window 0 of a decoded request -> (55, 2) pixels of its first frame."""
    return ((windows[0, :, :2] / 2 + 0.5) * 256).reshape(55, 2)


@pytest.mark.parametrize("mirrored", [False, True], ids=["as filmed", "mirrored selfie, flagged"])
def test_left_hand_lands_in_the_left_hand_slots(mirrored: bool) -> None:
    frames = person_frames()
    source = mirrored_source(frames) if mirrored else frames
    for kind, (body, content_type) in requests_of_every_kind(source, mirrored).items():
        points = pixels_of(decode_request(body, LIMITS, content_type, FRAME_ONLY).windows)
        neck = points[1, 0]
        assert (points[13:34, 0] > neck).all() and (points[34:55, 0] < neck).all(), kind  # left hand on image right
        assert points[5, 0] > neck > points[2, 0], kind  # left shoulder (slot 5) too
        if kind in ("openpose_frames", "frames", "mediapipe_frames", "pose_file openpose"):  # square sources: exact
            np.testing.assert_allclose(points[13:34], np.array(frames[0]["people"][0]["hand_left_keypoints_2d"])
                                       .reshape(21, 3)[:, :2], atol=1e-3, err_msg=kind)


def test_unflagged_mirrored_source_puts_the_right_hand_in_the_left_slots() -> None:
    body = {"mediapipe_frames": holistic_json(mirrored_source(person_frames()))}
    points = pixels_of(decode_request(body, LIMITS, None, FRAME_ONLY).windows)
    right = np.array(person_frames()[0]["people"][0]["hand_right_keypoints_2d"]).reshape(21, 3)[:, :2]
    np.testing.assert_allclose(points[13:34], right * (-1, 1) + (256, 0), atol=1e-3)  # the right hand, reflected


class ScriptedHolistic(HolisticExtractor):
    """Stands in for MediaPipe: reports the given Holistic parts for every decoded frame (and records
    the frame size), so the video path's mapping, aspect and un-mirroring are tested without MediaPipe."""

    def __init__(self, parts: tuple) -> None:
        self.parts, self.sizes = parts, []

    def landmarks(self, frames):
        for rgb in frames:
            self.sizes.append(rgb.shape[:2])
            yield self.parts


def video_bytes(width: int, height: int, count: int = 3) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for _ in range(count):
            output.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), format="rgb24")))
        output.mux(stream.encode())
    return buffer.getvalue()


@pytest.mark.parametrize("mirrored", [False, True], ids=["as filmed", "mirrored selfie, flagged"])
def test_video_left_hand_and_aspect(mirrored: bool) -> None:
    frames = person_frames(1)
    parts = holistic_parts(mirrored_source(frames)[0] if mirrored else frames[0])  # the 256-square view in [0, 1]
    data = video_bytes(320, 240)
    # The parts are fractions of a 320 x 240 picture: letterboxed into 256 x 192, centred (32 px bands).
    request = {"video": base64.b64encode(data).decode(), "framing": "frame", "mirrored": mirrored}
    decoded = decode_video_request(request, None, LIMITS, VideoLimits(), ScriptedHolistic(parts), SETTINGS)
    points = pixels_of(decoded.windows)
    expected_left = np.array(frames[0]["people"][0]["hand_left_keypoints_2d"]).reshape(21, 3)[:, :2]
    expected_left = expected_left * (1.0, 0.75) + (0.0, 32.0)
    np.testing.assert_allclose(points[13:34], expected_left, atol=1e-3)
    raw = decode_video_request(data, "video/mp4", LIMITS, VideoLimits(), ScriptedHolistic(parts), SETTINGS)
    assert raw.kind == "video"  # a raw body gets the archive's default for video: body
    anchor = body_anchor(pixels_of(raw.windows)[None])
    if not mirrored:
        np.testing.assert_allclose(anchor[0], (SETTINGS.stats.neck_x, SETTINGS.stats.neck_y), atol=1e-3)


def test_body_framing_undoes_shift_and_scale() -> None:
    pixels = openpose_to_frames(person_frames())
    stats = BodyStats(130.0, 128.0, 84.0)
    framed = body_frame(pixels, stats)
    neck, width = body_anchor(framed)
    np.testing.assert_allclose(neck, (130.0, 128.0), atol=1e-3)
    assert width == pytest.approx(84.0, abs=1e-3)
    moved = np.where(pixels.any(axis=-1, keepdims=True), (pixels - 128) * 0.6 + 128 + (30, -20), 0.0)
    np.testing.assert_allclose(body_frame(moved.astype(np.float32), stats), framed, atol=1e-3)
    missing = pixels.copy()
    missing[:, 13:34] = 0.0
    assert not body_frame(missing, stats)[:, 13:34].any()  # missing points stay (0, 0)
    no_shoulders = pixels.copy()
    no_shoulders[:, [2, 5]] = 0.0
    np.testing.assert_array_equal(body_frame(no_shoulders, stats), no_shoulders)  # nothing to anchor: unchanged


def test_unmirror_swaps_sides_and_reflects() -> None:
    pixels = openpose_to_frames(person_frames())
    once = unmirror(pixels)
    np.testing.assert_allclose(once[:, 13:34, 0], 256 - pixels[:, 34:55, 0])
    np.testing.assert_allclose(once[:, 2], np.column_stack([256 - pixels[:, 5, 0], pixels[:, 5, 1]]))
    np.testing.assert_allclose(unmirror(once), pixels, atol=1e-4)
    np.testing.assert_allclose(openpose_to_frames(mirrored_source(person_frames())), once, atol=1e-4)


def test_openpose_keeps_the_paper_preprocessing_by_default() -> None:
    clip = sorted((SHARED / "pose" / "32162").glob("image_*_keypoints.json"))
    frames = [yaml.safe_load(path.read_text()) for path in clip]
    plain = decode_request({"openpose_frames": frames}, LIMITS).windows
    np.testing.assert_array_equal(decode_request({"openpose_frames": frames}, LIMITS, None, SETTINGS).windows, plain)
    body = decode_request({"openpose_frames": frames, "framing": "body"}, LIMITS, None, SETTINGS).windows
    assert not np.allclose(body, plain)


@pytest.mark.parametrize("body, message", [
    ({"frames": [[[1.0, 2.0]] * 55], "framing": "centre"}, "framing must be one of 'frame', 'body', got 'centre'"),
    ({"frames": [[[1.0, 2.0]] * 55], "mirrored": "yes"}, "mirrored must be true or false, got 'yes'"),
    ({"sample": [[0.0] * 100] * 55, "framing": "body"}, "framing apply to keypoint frames; a prepared sample"),
])
def test_framing_option_errors(body: dict, message: str) -> None:
    with pytest.raises(InputError) as caught:
        decode_request(body, LIMITS, None, SETTINGS)
    assert message in str(caught.value) and caught.value.status == 400


def test_body_framing_needs_statistics_and_valid_settings(tmp_path) -> None:
    with pytest.raises(InputError, match="framing 'body' is not available"):
        decode_request({"frames": [[[1.0, 2.0]] * 55], "framing": "body"}, LIMITS)
    with pytest.raises(ValueError, match="handler.framing: video: body needs framing.yaml"):
        load_settings(tmp_path / "absent.yaml", {"video": "body"})
    with pytest.raises(ValueError, match="handler.framing: webcam"):
        load_settings(STATS_FILE, {"webcam": "body"})
    (tmp_path / "bad.yaml").write_text("body: {neck_x: 1, neck_y: 2, shoulder_width: 0}\n")
    with pytest.raises(ValueError, match="no valid body"):
        load_settings(tmp_path / "bad.yaml", {})


def test_shipped_statistics_are_the_scripts_output() -> None:
    shipped = yaml.safe_load(STATS_FILE.read_text())
    computed = framing_stats.body_statistics(SHARED / "pose")
    assert shipped["body"] == computed["body"] and shipped["source"]["frames"] == computed["source"]["frames"]
    assert SETTINGS.defaults["openpose_frames"] == "frame" and SETTINGS.defaults["mediapipe_frames"] == "body"


def test_stride_extracts_every_second_frame_and_interpolates() -> None:
    frames = person_frames(1)
    parts = holistic_parts(frames[0])
    moved = (parts[0] + 0.1, parts[1] + 0.1, None)  # next extracted frame: 25.6 px right/down, no right hand

    class Alternating(ScriptedHolistic):
        def landmarks(self, frames):
            for index, rgb in enumerate(frames):
                self.sizes.append(rgb.shape[:2])
                yield self.parts if index % 2 == 0 else moved

    extractor = Alternating(parts)
    points = extractor.clip_points(video_bytes(256, 256, count=4), VideoLimits(stride=2))
    assert len(extractor.sizes) == 3 and len(points) == 4  # frames 0, 2 and the last (3) were extracted
    np.testing.assert_allclose(points[1, :34], (points[0, :34] + points[2, :34]) / 2, atol=1e-3)  # interpolated
    np.testing.assert_allclose(points[1, 34:], points[0, 34:])  # right hand missing at frame 2: held
    np.testing.assert_allclose(points[2, :34], points[0, :34] + 25.6, atol=1e-3)
    assert not points[2, 34:].any() and points[0, 34:].all()


def test_pose_hands_gives_each_hand_to_the_nearer_wrist() -> None:
    from handlers.video import assign_hands

    pose = np.zeros((33, 2), np.float32)
    pose[15], pose[16] = (0.7, 0.6), (0.3, 0.6)  # the person's left wrist on the image's right
    near_left, near_right = np.full((21, 2), (0.72, 0.55), np.float32), np.full((21, 2), (0.28, 0.55), np.float32)
    for labels in (("Left", "Right"), ("Right", "Left")):  # Hands' own labels do not matter with a pose
        left, right = assign_hands(pose, [(near_right, labels[0]), (near_left, labels[1])])
        assert left is near_left and right is near_right
    assert assign_hands(pose, [(near_left, "Left")]) == (near_left, None)
    left, right = assign_hands(None, [(near_left, "Right")])  # no pose: Hands' label, read as mirrored
    assert left is near_left and right is None


def test_without_an_image_size_a_wide_picture_is_squashed_and_body_framing_cannot_undo_it() -> None:
    """MediaPipe JSON of a 16:9 picture: with image_width/height it is letterboxed (uniform scale 0.5625,
    which body framing undoes exactly); without them x is squashed relative to y, which it cannot."""
    frames = person_frames()
    square = decode_request({"frames": openpose_to_frames(frames).tolist(), "framing": "body"}, LIMITS, None, SETTINGS)
    wide = [dict(frame) for frame in holistic_json(frames)]
    for frame in wide:  # the square view in the middle of a 16:9 picture: x' = (x * 9 + 3.5) / 16
        for part in ("pose", "left_hand", "right_hand"):
            for point in frame[part] or ():
                point["x"] = (point["x"] * 9 + 3.5) / 16
    sized = decode_request({"mediapipe_frames": wide, "image_width": 1600, "image_height": 900}, LIMITS, None, SETTINGS)
    unsized = decode_request({"mediapipe_frames": wide}, LIMITS, None, SETTINGS)
    np.testing.assert_allclose(sized.windows, square.windows, atol=1e-4)
    shoulders = pixels_of(unsized.windows)[[2, 5]]
    assert abs(shoulders[1, 0] - shoulders[0, 0]) == pytest.approx(SETTINGS.stats.shoulder_width, abs=1e-3)
    assert not np.allclose(unsized.windows, square.windows, atol=1e-2)  # the hands are squashed towards the body
