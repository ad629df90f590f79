"""Fuzzing: hypothesis properties of request decoding and preprocessing (no server), and schemathesis
against the OpenAPI description the live TorchServe serves (`OPTIONS /`), bounded in examples."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from handlers.errors import InputError
from handlers.keypoints import (MAX_ABS_PIXEL, frame_indices, frames_to_windows, hand_frames, normalize,
                                openpose_frames_one_by_one, openpose_to_frames, sample_bound)
from handlers.payload import INPUT_KEYS, Decoded, Limits, decode_request, request_body
from scripts.bench.loadgen import worker_pids
from scripts.serve.torchserve_ctl import TorchServe

LIMITS = Limits(num_samples=50, num_classes=100)
FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
LIVE = settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate])

numbers = st.one_of(st.integers(-10**30, 10**30), st.floats(allow_nan=True, allow_infinity=True))
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=8))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=6), st.dictionaries(st.sampled_from([*INPUT_KEYS, "top_k", "people", "x"]), inner,
                                                 max_size=4)), max_leaves=40)
points = hnp.arrays(np.float64, st.tuples(st.integers(1, 12), st.sampled_from([54, 55, 56]), st.integers(1, 3)),
                    elements=st.floats(-2e5, 2e5))
keypoints = st.lists(st.floats(0, 512), min_size=75, max_size=75)
openpose_frame = st.one_of(
    st.just({"people": []}),
    st.builds(lambda body: {"people": [{"pose_keypoints_2d": body}]}, keypoints),
    st.dictionaries(st.sampled_from(["people", "version"]), json_values, max_size=2))


def assert_refused_or_ready(body: object) -> None:
    """decode_request either returns model-ready windows or raises InputError with a clean 4xx message."""
    try:
        decoded = decode_request(body, LIMITS)
    except InputError as error:
        assert 400 <= error.status < 500
        message = str(error)
        assert message and len(message) <= 300 and all(" " <= ch <= "~" for ch in message), message
        return
    assert isinstance(decoded, Decoded)
    assert decoded.windows.dtype == np.float32 and decoded.windows.shape[1:] == (55, 100)
    assert 1 <= len(decoded.windows) <= LIMITS.max_windows and 1 <= decoded.top_k <= LIMITS.num_classes
    assert np.isfinite(decoded.windows).all() and np.abs(decoded.windows).max() <= sample_bound()


@FUZZ
@given(json_values)
def test_any_json_value_is_decoded_or_refused_with_4xx(value: object) -> None:
    assert_refused_or_ready(value if isinstance(value, dict) else json.dumps(value))


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes_are_decoded_or_refused_with_4xx(raw: bytes) -> None:
    assert_refused_or_ready(bytearray(raw))
    assert_refused_or_ready(bytearray(b"\x93NUMPY" + raw))


@FUZZ
@given(points, st.sampled_from(["frames", "sample"]), st.one_of(st.none(), st.integers(-5, 120)))
def test_any_numeric_array_is_decoded_or_refused(array: np.ndarray, kind: str, top_k: int | None) -> None:
    body = {kind: array.tolist(), **({} if top_k is None else {"top_k": top_k})}
    assert_refused_or_ready(body)
    valid = array.shape[1:] == (55, 2) and np.abs(array).max() <= MAX_ABS_PIXEL and (top_k is None or 1 <= top_k <= 100)
    if kind == "frames" and valid and hand_frames(array) >= LIMITS.min_hand_frames:
        np.testing.assert_array_equal(decode_request(body, LIMITS).windows,
                                      frames_to_windows(array.astype(np.float32), 50))
    elif kind == "frames" and valid:
        with pytest.raises(InputError, match="not enough hand keypoints") as refused:
            decode_request(body, LIMITS)
        assert refused.value.status == 422


@FUZZ
@given(st.lists(openpose_frame, min_size=1, max_size=8))
def test_openpose_frames_parse_or_refuse(frames: list[dict]) -> None:
    assert_refused_or_ready({"openpose_frames": frames})
    try:
        pixels = openpose_to_frames(frames)
    except InputError:
        return
    seen = [i for i, f in enumerate(frames) if f["people"]]
    assert len(pixels) == len(frames) - seen[0]  # leading empty frames dropped, later ones repeat
    for index, frame in enumerate(frames[seen[0]:]):
        if not frame["people"]:
            np.testing.assert_array_equal(pixels[index], pixels[index - 1])


odd_values = st.one_of(st.sampled_from([True, False, None, "1", [1.0], 1.5e5, -2e5, 10**30, 10**400, 2**63,
                                         float("nan"), float("inf")]), st.floats(), st.integers())
FIELDS = {"pose_keypoints_2d": 25, "hand_left_keypoints_2d": 21, "hand_right_keypoints_2d": 21}


@st.composite
def openpose_person(draw: st.DrawFn) -> dict:
    """A plausible OpenPose person, often with one value or one whole field made odd."""
    person: dict = {name: draw(st.lists(st.floats(0, 255), min_size=3 * count, max_size=3 * count))
                    for name, count in FIELDS.items()}
    name = draw(st.sampled_from(sorted(FIELDS)))
    size = 3 * FIELDS[name]
    change = draw(st.sampled_from(["none", "value", "value", "field", "drop", "ints"]))
    if change == "value":
        person[name][draw(st.integers(0, size - 1))] = draw(odd_values)
    elif change == "field":
        person[name] = draw(st.one_of(odd_values, st.just([]), st.lists(st.floats(0, 9), max_size=size + 1),
                                      st.lists(st.booleans(), min_size=size, max_size=size),
                                      st.lists(st.sampled_from([10**30, 10**400, -1]), min_size=size, max_size=size)))
    elif change == "drop":
        del person[name]
    elif change == "ints":
        person[name] = [int(v) for v in person[name]]
    return person


@settings(FUZZ, max_examples=500)
@given(st.lists(st.one_of(st.builds(lambda p: {"people": [p]}, openpose_person()), st.just({"people": []}),
                          st.just({"people": [7]}), st.just({})), min_size=1, max_size=3))
def test_vectorised_openpose_equals_per_frame_parser(frames: list[dict]) -> None:
    """The fast path accepts exactly what the per-frame parser accepts, with the same values and errors."""
    try:
        expected = openpose_frames_one_by_one(frames)
    except InputError as error:
        with pytest.raises(InputError) as fast_error:
            openpose_to_frames(frames)
        assert (str(fast_error.value), fast_error.value.status) == (str(error), error.status)
        return
    np.testing.assert_array_equal(openpose_to_frames(frames), expected)


@FUZZ
@given(st.integers(1, 600), st.integers(1, 80))
def test_window_indices_stay_in_the_clip(num_frames: int, num_samples: int) -> None:
    indices = frame_indices(num_frames, num_samples)
    assert indices.shape == (4, num_samples)
    assert indices.min() >= 0 and indices.max() <= num_frames - 1
    steps = np.diff(indices, axis=1)
    assert ((steps == 1) | ((steps == 0) & (indices[:, 1:] == num_frames - 1))).all()
    if num_frames > num_samples:
        assert (steps == 1).all() and (np.diff(indices[:, 0]) >= 0).all()


@FUZZ
@given(hnp.arrays(np.float32, st.tuples(st.integers(1, 120), st.just(55), st.just(2)),
                  elements=st.floats(-MAX_ABS_PIXEL, MAX_ABS_PIXEL, width=32)))
def test_windows_are_normalised_picks_of_the_clip(pixels: np.ndarray) -> None:
    windows = frames_to_windows(pixels, 50)
    assert windows.shape == (4, 55, 100) and np.isfinite(windows).all()
    assert np.abs(windows).max() <= sample_bound()
    picked = normalize(pixels)[frame_indices(len(pixels), 50)]  # (4, 50, 55, 2)
    np.testing.assert_array_equal(windows[:, :, 0::2], picked[..., 0].transpose(0, 2, 1))
    np.testing.assert_array_equal(windows[:, :, 1::2], picked[..., 1].transpose(0, 2, 1))


@FUZZ
@given(st.dictionaries(st.sampled_from(["body", "data", "file"]), json_values, max_size=2),
       st.sampled_from([None, "", "application/json", "text/plain", "multipart/form-data; boundary=x",
                        "application/x-www-form-urlencoded", "image/png", "APPLICATION/JSON; charset=utf-8"]))
def test_request_body_returns_a_body_or_refuses(row: dict, content_type: str | None) -> None:
    try:
        request_body(row, {"Content-Type": content_type} if content_type is not None else {})
    except InputError as error:
        assert error.status in (400, 415)


def openapi(server: TorchServe, url: str) -> schemathesis.schemas.BaseSchema:
    """The OpenAPI description TorchServe serves at OPTIONS / of `url`."""
    response = requests.options(f"{url}/", headers=server.headers("management"), timeout=30)
    assert response.status_code == 200 and response.json()["openapi"].startswith("3.")
    return schemathesis.openapi.from_dict(response.json())


def fuzz(schema: schemathesis.schemas.BaseSchema, base_url: str, headers: dict[str, str],
         pin: dict[str, str]) -> tuple[Counter, list[str]]:
    """Every operation, LIVE.max_examples generated requests each; path parameters in `pin` fixed.
    -> (counts of (method, path, status), descriptions of the 5xx answers)."""
    statuses: Counter = Counter()
    server_errors: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @LIVE
        @given(case=operation.as_strategy())
        def exercise(case: schemathesis.Case) -> None:
            case.path_parameters = {**(case.path_parameters or {}),
                                    **{k: v for k, v in pin.items() if k in (case.path_parameters or {})}}
            response = case.call(base_url=base_url, headers=headers, timeout=60)
            statuses[(operation.method.upper(), operation.path, response.status_code)] += 1
            if response.status_code >= 500:
                server_errors.append(f"{operation.method.upper()} {case.formatted_path} {case.query}: "
                                     f"{response.status_code} {response.text[:120]}")

        exercise()
    return statuses, server_errors


def test_schemathesis_inference_api_reaches_the_handler_without_5xx(server: TorchServe, clip_frames: list[dict]) -> None:
    """Model name pinned to asl100, so generated bodies and content types reach the handler."""
    management = server.headers("management")
    pids = worker_pids(server.management_url, management, "asl100")
    statuses, server_errors = fuzz(openapi(server, server.inference_url), server.inference_url, server.headers(),
                                   {"model_name": "asl100", "model_version": "1.0"})
    print(f"schemathesis inference: {sum(statuses.values())} requests, {dict(statuses)}")
    handled = sum(n for (_, path, status), n in statuses.items() if "{model_name}" in path and 400 <= status < 500)
    assert handled >= 60, statuses
    assert not server_errors, "\n".join(server_errors)
    assert worker_pids(server.management_url, management, "asl100") == pids
    answer = requests.post(f"{server.inference_url}/predictions/asl100", json={"openpose_frames": clip_frames},
                           headers=server.headers(), timeout=60)
    assert answer.json()["top_k"][0]["gloss"] == "language"


def test_schemathesis_management_api_changes_nothing(server: TorchServe) -> None:
    """Random model names and parameters: no model is registered, removed or rescaled, no worker restarts.
    TorchServe's frontend answers a few malformed registrations with 500 itself (listed, never a handler)."""
    management = server.headers("management")
    before = requests.get(f"{server.management_url}/models", headers=management, timeout=30).json()
    pids = worker_pids(server.management_url, management, "asl100")
    statuses, server_errors = fuzz(openapi(server, server.management_url), server.management_url, management, {})
    print(f"schemathesis management: {sum(statuses.values())} requests, {dict(statuses)}, 5xx: {server_errors}")
    assert sum(statuses.values()) >= 100
    assert all(error.startswith("POST /models ") for error in server_errors), server_errors
    after = requests.get(f"{server.management_url}/models", headers=management, timeout=30).json()
    assert after == before
    assert worker_pids(server.management_url, management, "asl100") == pids

