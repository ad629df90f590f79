"""A catalogue of malformed requests for asl100, each with the 4xx and the words its answer must hold."""
from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np

JSON = "application/json"
ZERO_FRAME = [[0, 0]] * 55
SAMPLE = [[0.0] * 100] * 55
BODY_25 = [100.0, 100.0, 0.9] * 25


@dataclass(frozen=True)
class Hostile:
    """One malformed request: raw body bytes sent with `content_type`; the expected status and message."""

    name: str
    body: bytes
    content_type: str | None
    status: int
    needle: str


def as_json(value: object) -> bytes:
    return json.dumps(value).encode("utf-8")


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def multipart(field: str, payload: bytes, boundary: str = "b0undary", complete: bool = True) -> bytes:
    part = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n"
            f"Content-Type: application/json\r\n\r\n").encode() + payload
    return part + (f"\r\n--{boundary}--\r\n".encode() if complete else b"")


def openpose(people: object) -> dict:
    return {"version": 1.3, "people": people}


def person(**fields: object) -> dict:
    return {"pose_keypoints_2d": BODY_25, **fields}


def npy_header_lie() -> bytes:
    """A .npy header announcing a (10**6, 55, 2) float64 array (880 MB), followed by 16 bytes."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": (1000000, 55, 2)})
    return buffer.getvalue() + bytes(16)


MULTIPART = "multipart/form-data; boundary=b0undary"
DEEP = 100_000
CASES = [
    # bodies that are not a usable JSON object
    Hostile("empty body", b"", JSON, 400, "empty request body"),
    Hostile("whitespace body", b" \n\t ", JSON, 400, "empty request body"),
    Hostile("invalid JSON", b'{"frames": [1,', JSON, 400, "not valid JSON"),
    Hostile("JSON array", b"[1, 2, 3]", JSON, 400, "must be a JSON object"),
    Hostile("JSON string", b'"hello"', JSON, 400, "must be a JSON object"),
    Hostile("JSON null", b"null", JSON, 400, "must be a JSON object"),
    Hostile("JSON number", b"42", JSON, 400, "must be a JSON object"),
    Hostile("UTF-8 BOM", b"\xef\xbb\xbf" + as_json({"frames": [ZERO_FRAME]}), JSON, 400, "not valid JSON"),
    Hostile("invalid UTF-8", b'{"frames": "\xff\xfe"}', JSON, 400, "UTF-8"),
    Hostile("binary garbage", bytes(range(256)) * 4, "application/octet-stream", 400, "UTF-8 JSON object or a .npy"),
    Hostile("deeply nested JSON", b"[" * DEEP + b"]" * DEEP, JSON, 400, "maximum recursion depth"),
    Hostile("deep nesting in frames", as_json({"frames": json.loads("[" * 200 + "]" * 200)}), JSON, 400,
            "too deeply nested"),
    # fields
    Hostile("empty object", b"{}", JSON, 400, "exactly one of openpose_frames, frames, sample, mediapipe_frames, pose_file, found 0"),
    Hostile("two inputs", as_json({"frames": [ZERO_FRAME], "sample": SAMPLE}), JSON, 400, "found 2"),
    Hostile("unknown field", as_json({"frames": [ZERO_FRAME], "evil": 1}), JSON, 400, "unknown field(s) 'evil'"),
    Hostile("header injection in a key", as_json({"a\r\nX-Injected: 1": 1}), JSON, 400, "unknown field(s)"),
    # frames: shapes, ranks, counts
    Hostile("frames rank 2", as_json({"frames": [[1, 2]]}), JSON, 400, "shape (T, 55, 2)"),
    Hostile("frames 54 points", as_json({"frames": [[[0, 0]] * 54]}), JSON, 400, "got (1, 54, 2)"),
    Hostile("frames 56 points", as_json({"frames": [[[0, 0]] * 56]}), JSON, 400, "got (1, 56, 2)"),
    Hostile("frames 3 coordinates", as_json({"frames": [[[0, 0, 0]] * 55]}), JSON, 400, "got (1, 55, 3)"),
    Hostile("zero frames", as_json({"frames": []}), JSON, 400, "shape (T, 55, 2) with T >= 1"),
    Hostile("ragged frames", as_json({"frames": [ZERO_FRAME, [[0, 0]] * 3]}), JSON, 400, "rectangular array"),
    Hostile("too many frames", as_json({"frames": [ZERO_FRAME] * 5001}), JSON, 400, "5001 frames; the limit is 5000"),
    # frames: values
    Hostile("strings for numbers", as_json({"frames": [[["a", "b"]] * 55]}), JSON, 400, "only numbers, found strings"),
    Hostile("numeric strings", as_json({"frames": [[["1.5", "2"]] * 55]}), JSON, 400, "only numbers, found strings"),
    Hostile("null for numbers", as_json({"frames": [[[None, 0]] * 55]}), JSON, 400, "only numbers, found null"),
    Hostile("booleans for numbers", as_json({"frames": [[[True, False]] * 55]}), JSON, 400, "found booleans"),
    Hostile("objects for numbers", as_json({"frames": [[[{}, {}]] * 55]}), JSON, 400, "only numbers"),
    Hostile("NaN", b'{"frames": [[' + b", ".join([b"[NaN, 0]"] * 55) + b"]]}", JSON, 400, "NaN or infinite"),
    Hostile("Infinity", b'{"frames": [[' + b", ".join([b"[Infinity, 0]"] * 55) + b"]]}", JSON, 400,
            "NaN or infinite"),
    Hostile("huge float", as_json({"frames": [[[1e300, 0]] * 55]}), JSON, 400, "the limit is 1e+05"),
    Hostile("absurd pixel", as_json({"frames": [[[3e7, 0]] * 55]}), JSON, 400, "magnitude up to 3e+07"),
    Hostile("huge integer", json.dumps({"frames": [[[10 ** 40, 0]] * 55]}).encode(), JSON, 400, "huge integers"),
    # prepared samples
    Hostile("sample (55, 99)", as_json({"sample": [[0.0] * 99] * 55}), JSON, 400, "shape (55, 100)"),
    Hostile("sample rank 4", as_json({"sample": [[SAMPLE]]}), JSON, 400, "got (1, 1, 55, 100)"),
    Hostile("too many windows", as_json({"sample": [SAMPLE] * 65}), JSON, 400, "65 windows; the limit is 64"),
    Hostile("sample out of range", as_json({"sample": [[-1e6] * 100] * 55}), JSON, 400, "the limit is 782"),
    Hostile("sample a string", as_json({"sample": "x"}), JSON, 400, "only numbers, found strings"),
    # top_k
    Hostile("top_k 0", as_json({"frames": [ZERO_FRAME], "top_k": 0}), JSON, 400, "top_k must be an integer from 1 to 100"),
    Hostile("top_k 101", as_json({"frames": [ZERO_FRAME], "top_k": 101}), JSON, 400, "got 101"),
    Hostile("top_k -1", as_json({"frames": [ZERO_FRAME], "top_k": -1}), JSON, 400, "got -1"),
    Hostile("top_k string", as_json({"frames": [ZERO_FRAME], "top_k": "5"}), JSON, 400, "got '5'"),
    Hostile("top_k float", as_json({"frames": [ZERO_FRAME], "top_k": 2.5}), JSON, 400, "got 2.5"),
    Hostile("top_k boolean", as_json({"frames": [ZERO_FRAME], "top_k": True}), JSON, 400, "got True"),
    Hostile("top_k 100k characters", as_json({"frames": [ZERO_FRAME], "top_k": "k" * 100_000}), JSON, 400,
            "top_k must be an integer"),
    # OpenPose frames
    Hostile("openpose not a list", as_json({"openpose_frames": {"people": []}}), JSON, 400, "non-empty list"),
    Hostile("openpose empty", as_json({"openpose_frames": []}), JSON, 400, "non-empty list"),
    Hostile("openpose no people key", as_json({"openpose_frames": [{"version": 1.3}]}), JSON, 400, "'people' list"),
    Hostile("openpose person not object", as_json({"openpose_frames": [openpose([7])]}), JSON, 400,
            "people[0] must be an object"),
    Hostile("openpose COCO-18 body", as_json({"openpose_frames": [openpose([{"pose_keypoints_2d": [1.0] * 54}])]}),
            JSON, 400, "75 numbers (x, y, confidence per point), got 54 values"),
    Hostile("openpose nested keypoints", as_json({"openpose_frames": [openpose([{"pose_keypoints_2d": [[1, 2]] * 75}])]}),
            JSON, 400, "flat list of 75 numbers"),
    Hostile("openpose hand 20 points", as_json({"openpose_frames": [openpose([person(hand_left_keypoints_2d=[1.0] * 60)])]}),
            JSON, 400, "hand_left_keypoints_2d must be a list of 63 numbers"),
    Hostile("openpose string keypoints", as_json({"openpose_frames": [openpose([person(hand_right_keypoints_2d=["1"] * 63)])]}),
            JSON, 400, "hand_right_keypoints_2d must contain only numbers"),
    Hostile("openpose absurd pixel", as_json({"openpose_frames": [openpose([{"pose_keypoints_2d": [1e9, 1.0, 1.0] * 25}])]}),
            JSON, 400, "magnitude up to 1e+09"),
    Hostile("openpose nobody", as_json({"openpose_frames": [openpose([])] * 3}), JSON, 422, "no person was detected"),
    Hostile("openpose person without keypoints", as_json({"openpose_frames": [openpose([{}])] * 20}), JSON, 400,
            "people[0] has no keypoints"),
    # clips without enough hand frames (handler.min_hand_frames): 422 naming what is missing
    Hostile("openpose zero keypoints", as_json({"openpose_frames": [openpose([{"pose_keypoints_2d": [0.0] * 75}])] * 20}),
            JSON, 422, "shows a hand in 0 of 20 frames"),
    Hostile("openpose only a nose", as_json({"openpose_frames": [openpose([{"pose_keypoints_2d": [120.0, 60.0, 0.9] + [0.0] * 72}])] * 20}),
            JSON, 422, "not enough hand keypoints"),
    Hostile("frames all zero", as_json({"frames": [ZERO_FRAME] * 20}), JSON, 422, "frames shows a hand in 0 of 20"),
    Hostile("too many openpose frames", as_json({"openpose_frames": [openpose([])] * 5001}), JSON, 400, "the limit is 5000"),
    # .npy bodies
    Hostile("npy truncated", npy(np.zeros((4, 55, 2), np.float32))[:150], "application/octet-stream", 400,
            "announces shape (4, 55, 2)"),
    Hostile("npy pickled objects", npy(np.array([{"a": 1}], dtype=object)), "application/octet-stream", 400,
            "holds Python objects"),
    Hostile("npy header lies about size", npy_header_lie(), "application/octet-stream", 400, "announces shape (1000000, 55, 2)"),
    Hostile("npy complex", npy(np.zeros((3, 55, 2), np.complex64)), "application/octet-stream", 400, "complex numbers"),
    Hostile("npy wrong shape", npy(np.zeros((10, 3), np.float32)), "application/octet-stream", 400, "got (10, 3)"),
    # content types and transport
    Hostile("XML content type", b"<frames/>", "application/xml", 415, "Content-Type 'application/xml' is not accepted"),
    Hostile("image content type", b"\x89PNG\r\n", "image/png", 415, "Content-Type 'image/png' is not accepted"),
    Hostile("form-encoded", b"frames=1&top_k=2", "application/x-www-form-urlencoded", 415, "form-encoded"),
    Hostile("multipart wrong field", multipart("file", as_json({"frames": [ZERO_FRAME]})), MULTIPART, 400,
            "no complete field named 'data'"),
    Hostile("multipart truncated", multipart("data", b'{"frames": [[', complete=False), MULTIPART, 400,
            "no complete field named 'data' (empty, truncated or misnamed)"),
    Hostile("oversized body", b" " * 6_600_000, JSON, 413, "Request Entity Too Large"),
]
