"""The handler's steps without a server: initialize from a built archive, decode, batch, respond."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ts.context import RequestProcessor

from handlers.errors import InputError
from handlers.payload import Decoded, Limits, decode_request, request_body
from handlers.tgcn_handler import TGCNHandler
from scripts.serve.inprocess import archive_context
from tests import reference
from tests.conftest import CLIP, SHARED


@pytest.fixture(scope="module")
def handler(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> TGCNHandler:
    instance = TGCNHandler()
    instance.initialize(archive_context(model_store / "asl100.mar", tmp_path_factory.mktemp("asl100"), 4))
    return instance


def run(handler: TGCNHandler, rows: list[dict]) -> list[bytes]:
    handler.context.request_processor = [RequestProcessor({}) for _ in rows]
    return [json.dumps(answer) for answer in handler.postprocess(handler.inference(handler.preprocess(rows)))]


def test_initialize_reads_archive(handler: TGCNHandler) -> None:
    assert handler.initialized and handler.runtime.name == "onnx"
    assert handler.model_name == "asl100" and handler.model_version == "1.0"
    assert handler.glosses[54] == "language" and len(handler.glosses) == 100


def test_clip_gives_language_with_reference_probabilities(handler: TGCNHandler, clip_frames: list[dict]) -> None:
    [body] = run(handler, [{"body": {"openpose_frames": clip_frames, "top_k": 5}}])
    answer = json.loads(body)
    assert answer["model"] == "asl100" and answer["version"] == "1.0"
    assert [entry["gloss"] for entry in answer["top_k"]][0] == "language"
    assert answer["top_k"][0]["probability"] == pytest.approx(0.9993, abs=5e-5)
    expected = reference.probabilities(SHARED / "checkpoints" / "asl100" / "ckpt.pth", CLIP, 20)
    for entry in answer["top_k"]:
        assert entry["probability"] == pytest.approx(float(expected[entry["index"]]), abs=1e-5)
    probabilities = [entry["probability"] for entry in answer["top_k"]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert handler.context.get_response_content_type(0) == "application/json"


def test_mixed_batch_isolates_the_bad_item(handler: TGCNHandler, clip_frames: list[dict]) -> None:
    good = {"body": {"openpose_frames": clip_frames}}
    bodies = run(handler, [good, {"body": {"frames": [[1, 2]]}}, good, {"body": bytearray(b"{oops")}])
    statuses = [handler.context.get_response_status(i)[0] for i in range(4)]
    assert statuses == [200, 400, 200, 400]
    answers = [json.loads(b) for b in bodies]
    assert answers[0] == answers[2] and answers[0]["top_k"][0]["gloss"] == "language"
    assert "shape (T, 55, 2)" in answers[1]["error"] and "not valid JSON" in answers[3]["error"]
    assert "shape (T, 55, 2)" in handler.context.get_response_status(1)[1]


def test_all_bad_batch_runs_no_model(handler: TGCNHandler) -> None:
    bodies = run(handler, [{"body": b""}, {}])
    assert [handler.context.get_response_status(i)[0] for i in range(2)] == [400, 400]
    assert "empty request body" in json.loads(bodies[0])["error"]
    assert "no request body" in json.loads(bodies[1])["error"]


def test_batch_equals_single_requests(handler: TGCNHandler, clip_frames: list[dict]) -> None:
    rng = np.random.default_rng(0)
    rows = [{"body": {"frames": rng.uniform(0, 256, (n, 55, 2)).tolist(), "top_k": 3}} for n in (12, 80, 260)]
    batched = run(handler, rows)
    singles = [run(handler, [row])[0] for row in rows]
    for one, other in zip(batched, singles):
        for a, b in zip(json.loads(one)["top_k"], json.loads(other)["top_k"]):
            assert a["index"] == b["index"] and a["probability"] == pytest.approx(b["probability"], abs=1e-6)


LIMITS = Limits(num_samples=50, num_classes=100)


def test_decode_sample_frames_and_npy() -> None:
    sample = np.random.default_rng(1).uniform(-1, 1, (55, 100)).astype(np.float32)
    decoded = decode_request({"sample": sample.tolist(), "top_k": 2}, LIMITS)
    assert decoded.kind == "sample" and decoded.windows.shape == (1, 55, 100) and decoded.top_k == 2
    np.testing.assert_array_equal(decoded.windows[0], sample)
    buffer = io.BytesIO()
    np.save(buffer, sample)
    assert np.array_equal(decode_request(bytearray(buffer.getvalue()), LIMITS).windows[0], sample)
    frames = np.full((60, 55, 2), 128.0)
    decoded = decode_request(json.dumps({"frames": frames.tolist()}), LIMITS)
    assert decoded.windows.shape == (4, 55, 100) and not decoded.windows.any()
    assert decoded.top_k == 5


@pytest.mark.parametrize("body, message", [
    ("", "empty request body"),
    ("[1, 2]", "must be a JSON object"),
    ({"sample": [[0.0] * 100] * 54}, r"shape \(55, 100\)"),
    ({"sample": [[0.0] * 99] * 55}, r"shape \(55, 100\)"),
    ({"frames": [[[0, 0]] * 56]}, r"shape \(T, 55, 2\)"),
    ({"frames": []}, r"shape \(T, 55, 2\)"),
    ({"frames": [[[0, "a"]] * 55]}, "must contain only numbers, found strings"),
    ({"sample": [[float("inf")] * 100] * 55}, "NaN or infinite"),
    ({"sample": [[0.0] * 100] * 55, "top_k": 0}, "top_k must be an integer from 1 to 100"),
    ({"sample": [[0.0] * 100] * 55, "top_k": 101}, "top_k must be an integer from 1 to 100"),
    ({"sample": [[0.0] * 100] * 55, "top_k": "5"}, "top_k must be an integer"),
    ({"sample": [[0.0] * 100] * 55, "top_k": True}, "top_k must be an integer"),
    ({"sample": [[0.0] * 100] * 55, "frames": [[[0, 0]] * 55]}, "exactly one of"),
    ({"topk": 3, "sample": [[0.0] * 100] * 55}, "unknown field"),
    ({"openpose_frames": []}, "non-empty list"),
    ({"openpose_frames": [{"people": []}] * 5001}, "limit is 5000"),
    (bytearray(b"\x93NUMPY garbage"), "cannot be read"),
    (bytearray(b"\xff\xfe"), "UTF-8 JSON object"),
])
def test_decode_errors_name_the_problem(body, message: str) -> None:
    with pytest.raises(InputError, match=message) as error:
        decode_request(body, LIMITS)
    assert 400 <= error.value.status < 500


def test_decoded_windows_are_model_ready() -> None:
    decoded = decode_request({"frames": np.full((LIMITS.min_hand_frames, 55, 2), 100.0).tolist()}, LIMITS)
    assert isinstance(decoded, Decoded) and decoded.windows.flags["C_CONTIGUOUS"]
    assert torch.from_numpy(decoded.windows).dtype == torch.float32


def test_request_body_takes_a_data_input_without_content_type() -> None:
    """gRPC inputs and multipart fields named data; a request header named data is not a part."""
    assert request_body({"data": b"{}"}, {"data": {"content-type": ""}}) == b"{}"
    assert request_body({"data": {"frames": 1}}, {"data": "not a dict", "Content-Type": "multipart/form-data"}) == {
        "frames": 1}
    with pytest.raises(InputError, match="Content-Type 'image/png' is not accepted"):
        request_body({"data": b"x"}, {"data": {"content-type": "image/png"}})


def test_limits_come_from_the_archive_settings_with_one_set_of_defaults() -> None:
    settings = {"max_frames": "100", "default_top_k": 3, "max_windows": None, "variant": "asl100", "runtime": "onnx"}
    assert Limits.from_settings(settings, 50, 100) == Limits(num_samples=50, num_classes=100, default_top_k=3,
                                                             max_frames=100)
    assert Limits.from_settings({}, 50, 300) == Limits(num_samples=50, num_classes=300)
