"""Test inputs built from the real OpenPose clip: the same person as MediaPipe Holistic JSON and as
pose-format .pose files (Holistic and OpenPose layouts). Independent of handlers/ on purpose."""
from __future__ import annotations

import copy
import io

import numpy as np
from pose_format import Pose
from pose_format.numpy import NumPyPoseBody
from pose_format.pose_header import PoseHeader, PoseHeaderComponent, PoseHeaderDimensions
from pose_format.utils.openpose import load_openpose

# MediaPipe pose index <- OpenPose BODY_25 index, for the points the 55-point layout uses directly.
POSE_FROM_BODY25 = {0: 0, 12: 2, 14: 3, 16: 4, 11: 5, 13: 6, 15: 7, 5: 15, 2: 16, 8: 17, 7: 18}
HIP_OFFSET = 4.0  # pixels: hips 23/24 are placed either side of OpenPose's mid-hip


def body25(person: dict) -> np.ndarray:
    return np.array(person["pose_keypoints_2d"], dtype=np.float64).reshape(25, 3)[:, :2]


def hand(person: dict, side: str) -> np.ndarray | None:
    values = person.get(f"hand_{side}_keypoints_2d") or []
    return np.array(values, dtype=np.float64).reshape(21, 3)[:, :2] if values else None


def holistic_parts(frame: dict, size: float = 256.0) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None] | None:
    """An OpenPose frame (pixels of a 256 frame) -> Holistic pose (33, 2), left, right hand in [0, 1]."""
    if not frame["people"]:
        return None
    person = frame["people"][0]
    body = body25(person)
    pose = np.full((33, 2), 0.5)  # points the mapping must ignore
    for mp_index, op_index in POSE_FROM_BODY25.items():
        pose[mp_index] = body[op_index]
    present = bool(body[8].any())
    pose[23] = body[8] + (HIP_OFFSET, 1.0) if present else 0.0
    pose[24] = body[8] - (HIP_OFFSET, 1.0) if present else 0.0
    left, right = hand(person, "left"), hand(person, "right")
    return pose / size, None if left is None else left / size, None if right is None else right / size


def landmark_list(points: np.ndarray | None) -> list[dict] | None:
    if points is None:
        return None
    return [{"x": float(x), "y": float(y), "z": -0.1, "visibility": 0.9} for x, y in points]


def holistic_json(frames: list[dict]) -> list[dict]:
    """OpenPose frames -> the mediapipe_frames request field."""
    out = []
    for frame in frames:
        parts = holistic_parts(frame)
        out.append({} if parts is None else {"pose": landmark_list(parts[0]), "left_hand": landmark_list(parts[1]),
                                             "right_hand": landmark_list(parts[2]), "face": [{"x": 0.5, "y": 0.5}]})
    return out


def neck_from_shoulders(frames: list[dict]) -> list[dict]:
    """OpenPose frames whose neck is the mean of the present shoulders, as the MediaPipe mapping defines it."""
    frames = copy.deepcopy(frames)
    for frame in frames:
        for person in frame["people"]:
            values = person["pose_keypoints_2d"]
            shoulders = [s for s in (2, 5) if values[3 * s + 2] > 0]
            if shoulders:
                values[3] = sum(values[3 * s] for s in shoulders) / len(shoulders)
                values[4] = sum(values[3 * s + 1] for s in shoulders) / len(shoulders)
                values[5] = 1.0
            else:
                values[3:6] = [0.0, 0.0, 0.0]
    return frames


def component(name: str, count: int) -> PoseHeaderComponent:
    return PoseHeaderComponent(name=name, points=[str(i) for i in range(count)], limbs=[], colors=[(255, 255, 255)],
                               point_format="XYZC")


def camera_view(width: int, height: int) -> tuple[float, np.ndarray]:
    """Where the square 256-pixel view lands in a width x height video: (pixels per 256-frame pixel,
    offset). The square fills the shorter side and is centred along the longer one (aspect kept)."""
    side = min(width, height)
    return side / 256.0, np.array([(width - side) / 2, (height - side) / 2])


def holistic_pose_bytes(frames: list[dict], width: int, height: int, extra_face: bool = True) -> bytes:
    """OpenPose frames -> a Holistic-layout .pose file of a width x height video (pixel coordinates), the
    256-pixel view placed undistorted in it (camera_view)."""
    scale, offset = camera_view(width, height)
    counts = {"POSE_LANDMARKS": 33, "FACE_LANDMARKS": 468, "LEFT_HAND_LANDMARKS": 21, "RIGHT_HAND_LANDMARKS": 21}
    if not extra_face:
        counts.pop("FACE_LANDMARKS")
    header = PoseHeader(version=0.2, dimensions=PoseHeaderDimensions(width=width, height=height, depth=1000),
                        components=[component(name, count) for name, count in counts.items()])
    total = sum(counts.values())
    data = np.zeros((len(frames), 1, total, 3), dtype=np.float32)
    confidence = np.zeros((len(frames), 1, total), dtype=np.float32)
    for t, frame in enumerate(frames):
        parts = holistic_parts(frame)
        if parts is None:
            continue
        by_name = {"POSE_LANDMARKS": parts[0], "LEFT_HAND_LANDMARKS": parts[1], "RIGHT_HAND_LANDMARKS": parts[2]}
        start = 0
        for name, count in counts.items():
            part = by_name.get(name)
            if part is not None:
                shown = part.any(axis=-1)  # OpenPose's missing (0, 0) points are not detected
                data[t, 0, start:start + count, :2] = np.where(shown[:, None], part * 256.0 * scale + offset, 0.0)
                confidence[t, 0, start:start + count] = shown
            start += count
    return write(Pose(header, NumPyPoseBody(fps=25.0, data=data, confidence=confidence)))


def openpose_pose_bytes(frames: list[dict], width: int = 256, height: int = 256) -> bytes:
    """OpenPose frames -> an OpenPose-layout .pose file written by pose-format's own loader.

    load_openpose reads each component's values in sequence, so an empty face list would shift the
    hands into the face's slots; the (unused) face is filled with zeros first."""
    frames = copy.deepcopy(frames)
    for frame in frames:
        for person in frame["people"]:
            person["face_keypoints_2d"] = person.get("face_keypoints_2d") or [0.0] * 210
    return write(load_openpose(dict(enumerate(frames)), fps=25, width=width, height=height))


def write(pose: Pose) -> bytes:
    buffer = io.BytesIO()
    pose.write(buffer)
    return buffer.getvalue()
