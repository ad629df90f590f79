"""Video: the two environments, offline Holistic, decode + Holistic + TGCN through a live video
TorchServe (started from .venv-video), client-side extraction, and keypoint traffic during a video."""
from __future__ import annotations

import base64
import io
import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np
import pytest
import requests
import yaml
from PIL import Image

from handlers.errors import InputError
from handlers.payload import Limits
from handlers.video import VideoLimits, decode_frames, decode_video_request
from scripts.archive import build_archives
from scripts.serve.torchserve_ctl import Ports, TorchServe
from scripts.client.core import read_properties
from scripts.wlasl_data import REPO

VIDEO_PYTHON = REPO / ".venv-video" / "bin" / "python"
VIDEO_OVERLAY = REPO / "configs" / "video.properties"
CODECS = {"mp4": ("libx264", "video/mp4"), "webm": ("libvpx", "video/webm"), "avi": ("mpeg4", "video/x-msvideo")}
NO_NETWORK = ("import socket\n"
              "def refuse(*args, **kwargs): raise OSError('network access attempted')\n"
              "socket.socket.connect = socket.socket.connect_ex = refuse\n"
              "socket.create_connection = socket.getaddrinfo = refuse\n")


def run_video_python(code: str, timeout: float = 120) -> str:
    """Run Python code in .venv-video from the repository root; return its stdout."""
    if not VIDEO_PYTHON.is_file():
        pytest.fail(f"{VIDEO_PYTHON} missing: run `bash scripts/setup.sh` (it creates .venv-video)")
    done = subprocess.run([str(VIDEO_PYTHON), "-c", code], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    """A real photograph of a person: Grace Hopper, from matplotlib's sample data (in .venv-video)."""
    path = run_video_python("import matplotlib.cbook as c; print(c.get_sample_data('grace_hopper.jpg', asfileobj=False))")
    return Image.open(path.strip()).convert("RGB").resize((171, 200))


def make_video(photo: Image.Image, frames: int, container: str = "mp4", mirrored: bool = False) -> bytes:
    """The photo sliding left and right on a 320 x 240 canvas, encoded in memory with PyAV
    (mirrored: each picture reflected left-right, as a selfie preview shows it)."""
    codec, _ = CODECS[container]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as output:
        stream = output.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for t in range(frames):
            canvas = Image.new("RGB", (320, 240), (200, 200, 190))
            canvas.paste(photo, (40 + round(30 * np.sin(t / 6)), 30))
            if mirrored:
                canvas = canvas.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            output.mux(stream.encode(av.VideoFrame.from_image(canvas)))
        output.mux(stream.encode())
    return buffer.getvalue()


@pytest.fixture(scope="module")
def video_server(data_tree: Path, tmp_path_factory: pytest.TempPathFactory):
    """asl100_video.mar and an eager asl100.mar on their own TorchServe, launched from .venv-video (its workers
    run MediaPipe). The test video is a photograph without hands, so both are built with min_hand_frames=0
    (the default refuses it with 422: test_a_handless_video_is_refused_by_default, tests/test_hands.py)."""
    store = tmp_path_factory.mktemp("video_store")
    common = ["--variants", "asl100", "--data", str(data_tree), "--export-path", str(store), "--require",
              "--handler-setting", "min_hand_frames=0"]
    assert build_archives.main(["--video", *common, "--build-dir", str(tmp_path_factory.mktemp("video_build"))]) == 0
    assert build_archives.main(["--runtime", "eager", *common, "--build-dir", str(tmp_path_factory.mktemp("kp_build"))]) == 0
    instance = TorchServe(tmp_path_factory.mktemp("video_run"), store, ports=Ports.free(),
                          overrides=read_properties(VIDEO_OVERLAY), python=VIDEO_PYTHON)
    instance.start(["asl100_video", "asl100"], timeout=240)
    yield instance
    assert instance.stop()


def post(server: TorchServe, model: str, timeout: float = 180, **kwargs) -> requests.Response:
    headers = {**server.headers(), **kwargs.pop("headers", {})}
    return requests.post(f"{server.inference_url}/predictions/{model}", headers=headers, timeout=timeout, **kwargs)


def test_environments_install_together() -> None:
    """Main .venv: numpy 2 + protobuf 7 (gRPC stubs); .venv-video: MediaPipe's numpy<2, protobuf<5; both consistent."""
    import google.protobuf
    import grpc_tools
    import pose_format

    assert np.__version__.startswith("2.") and google.protobuf.__version__.startswith("7.") and grpc_tools
    assert pose_format and av.__version__ == "18.1.0"
    versions = json.loads(run_video_python(
        "import json, mediapipe, numpy, google.protobuf, torch, ts, av, pose_format\n"
        "print(json.dumps([mediapipe.__version__, numpy.__version__, google.protobuf.__version__, torch.__version__, "
        "ts.__version__, av.__version__]))"))
    assert versions == ["0.10.21", "1.26.4", "4.25.9", "2.13.0+cpu", "0.12.0", "18.1.0"]
    for python in (REPO / ".venv" / "bin" / "python", VIDEO_PYTHON):
        check = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
        assert check.returncode == 0, f"{python}: {check.stdout}"


def test_client_side_extraction_is_offline(photo: Image.Image, tmp_path: Path) -> None:
    video = tmp_path / "person.mp4"
    video.write_bytes(make_video(photo, 12))
    output = tmp_path / "person.json"
    run_video_python(NO_NETWORK + f"from scripts.tools.extract_keypoints import main\nraise SystemExit(main([{str(video)!r}, "
                     f"'-o', {str(output)!r}]))")
    body = json.loads(output.read_text())
    frames = body["mediapipe_frames"]
    assert len(frames) == 12 and (body["image_width"], body["image_height"]) == (320, 240)
    assert sum(frame["pose"] is not None for frame in frames) >= 10
    nose = np.array([[frame["pose"][0]["x"], frame["pose"][0]["y"]] for frame in frames if frame["pose"]])
    assert ((nose > 0.1) & (nose < 0.9)).all()  # the face is inside the picture


def local_keypoints(video: bytes, tmp_path: Path) -> dict:
    """{"mediapipe_frames": ..., "image_width", "image_height"} extracted from `video` on this machine, every
    frame (scripts/tools/extract_keypoints.py)."""
    (tmp_path / "clip.mp4").write_bytes(video)
    return json.loads(run_video_python(
        f"import json\nfrom scripts.tools.extract_keypoints import extract\n"
        f"print(json.dumps(extract(open({str(tmp_path / 'clip.mp4')!r}, 'rb').read())))"))


def test_video_through_server_matches_local_extraction(video_server: TorchServe,
                                                       photo: Image.Image, tmp_path: Path) -> None:
    videos = {name: make_video(photo, 20, name) for name in CODECS}
    answers = {name: post(video_server, "asl100_video", data=data, headers={"Content-Type": CODECS[name][1]})
               for name, data in videos.items()}
    for name, answer in answers.items():
        assert answer.status_code == 200, (name, answer.text)
        assert answer.json()["model"] == "asl100_video" and len(answer.json()["top_k"]) == 5
    as_json = post(video_server, "asl100_video", json={"video": base64.b64encode(videos["mp4"]).decode(), "top_k": 10})
    assert as_json.status_code == 200 and len(as_json.json()["top_k"]) == 10
    assert as_json.json()["top_k"][:5] == answers["mp4"].json()["top_k"]
    every_frame = local_keypoints(videos["mp4"], tmp_path)  # the client tool extracts every frame: answered too
    assert post(video_server, "asl100", json=every_frame).status_code == 200
    settings = yaml.safe_load((REPO / "configs" / "video.yaml").read_text())["handler"]
    # The archive's extraction (its frame stride) run here, sent as 256-frame points with the video's framing.
    local = json.loads(run_video_python(
        f"import json\nfrom handlers.video import HolisticExtractor, VideoLimits\n"
        f"limits = VideoLimits(stride={settings['video_frame_stride']})\n"
        f"points = HolisticExtractor().clip_points(open({str(tmp_path / 'clip.mp4')!r}, 'rb').read(), limits)\n"
        f"print(json.dumps({{'frames': points.tolist(), 'framing': 'body'}}))"))
    keypoints = post(video_server, "asl100", json={**local, "top_k": 10})
    assert keypoints.status_code == 200, keypoints.text
    served, expected = as_json.json()["top_k"], keypoints.json()["top_k"]
    assert [e["index"] for e in served] == [e["index"] for e in expected]
    for got, want in zip(served, expected):
        assert got["probability"] == pytest.approx(want["probability"], abs=1e-4)


def test_a_handless_video_is_refused_by_default(server: TorchServe, photo: Image.Image, tmp_path: Path) -> None:
    """The default archive (min_hand_frames 10) refuses MediaPipe's own keypoints of the hand-less test video."""
    answer = post(server, "asl100", json=local_keypoints(make_video(photo, 20), tmp_path))
    assert answer.status_code == 422 and "mediapipe_frames shows a hand in 0 of 20 frames" in answer.json()["error"]


@pytest.mark.parametrize("body, content_type, message", [
    (b"\x00\x00\x00\x18ftypmp42 this is not a video", "video/mp4", "not a decodable video"),
    (b"", "video/webm", "empty or non-binary body"),
])
def test_corrupt_video_gets_4xx(video_server: TorchServe, body: bytes, content_type: str, message: str) -> None:
    answer = post(video_server, "asl100_video", data=body, headers={"Content-Type": content_type})
    assert answer.status_code == 400 and message in answer.json()["error"], answer.text
    assert "mp4, webm or avi" in answer.json()["error"]


def test_truncated_video_and_bad_json_get_4xx(video_server: TorchServe, photo: Image.Image) -> None:
    data = make_video(photo, 10)
    truncated = post(video_server, "asl100_video", data=data[: len(data) // 3], headers={"Content-Type": "video/mp4"})
    assert 400 <= truncated.status_code < 500 and "video" in truncated.json()["error"]
    bad = post(video_server, "asl100_video", json={"video": "%%%"})
    assert bad.status_code == 400 and bad.json()["error"] == "video is not valid base64"
    assert post(video_server, "asl100_video", data=data, headers={"Content-Type": "video/mp4"}).status_code == 200


def test_keypoint_requests_answer_while_a_video_is_processed(video_server: TorchServe, server: TorchServe,
                                                              photo: Image.Image, clip_frames: list[dict]) -> None:
    long_video = make_video(photo, 150)
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        pending = pool.submit(post, video_server, "asl100_video", data=long_video,
                              headers={"Content-Type": "video/mp4"}, timeout=300)
        time.sleep(1.0)
        answered = []
        for _ in range(5):
            answer = post(server, "asl100", json={"openpose_frames": clip_frames}, timeout=30)
            answered.append((answer.status_code, answer.json()["top_k"][0]["gloss"], pending.done()))
        keypoints_done = time.monotonic() - started
        video = pending.result()
        video_done = time.monotonic() - started
    assert video.status_code == 200, video.text
    assert answered == [(200, "language", False)] * 5, (answered, keypoints_done, video_done)


def test_decode_frames_limits_and_errors(photo: Image.Image) -> None:
    """handlers/video.py's decoding needs only PyAV, so it runs in the main environment too."""
    data = make_video(photo, 10)
    frames = list(decode_frames(data, VideoLimits(max_frames=10, max_side=160)))
    assert len(frames) == 10 and frames[0].shape == (120, 160, 3) and frames[0].dtype == np.uint8
    with pytest.raises(InputError, match="more than 5 frames") as caught:
        list(decode_frames(data, VideoLimits(max_frames=5)))
    assert caught.value.status == 413
    for garbage in (b"RIFF....AVI garbage", b"\x1a\x45\xdf\xa3 webm garbage"):
        with pytest.raises(InputError, match="expected an mp4, webm or avi video") as caught:
            list(decode_frames(garbage, VideoLimits()))
        assert caught.value.status == 400
    with pytest.raises(InputError, match="unknown field\\(s\\) 'frames'; a video request holds video, top_k, framing, mirrored"):
        decode_video_request({"video": "AAAA", "frames": []}, None, Limits(50, 100), VideoLimits(), extractor=None)
    with pytest.raises(InputError, match="top_k must be an integer from 1 to 100"):
        decode_video_request({"video": "AAAA", "top_k": 0}, None, Limits(50, 100), VideoLimits(), extractor=None)


def test_request_size_limit_is_the_documented_one(video_server: TorchServe) -> None:
    limit = int(read_properties(VIDEO_OVERLAY)["max_request_size"])
    assert limit == 32 * 1024 * 1024 and video_server.properties["max_request_size"] == str(limit)
    answer = post(video_server, "asl100_video", data=b"\x00" * (limit + 1), headers={"Content-Type": "video/mp4"})
    assert answer.status_code == 413


@pytest.mark.video
def test_mirrored_video_flagged_matches_the_video_as_filmed(photo: Image.Image, tmp_path: Path) -> None:
    """Real Holistic: the person's left shoulder (slot 5) is on the image's right in the video as filmed,
    and a mirrored recording sent with mirrored: true comes back as the video as filmed (sides swapped
    back), while unflagged it does not. (The photograph shows no hands: min_hand_frames 0.)"""
    for name, mirrored in (("filmed", False), ("mirrored", True)):
        (tmp_path / f"{name}.mp4").write_bytes(make_video(photo, 12, mirrored=mirrored))
    result = json.loads(run_video_python(
        "import base64, json\nimport numpy as np\nfrom handlers.payload import Limits\n"
        "from handlers.framing import FramingSettings\n"
        "from handlers.video import HolisticExtractor, VideoLimits, decode_video_request\n"
        "def shoulders_and_face(name, mirrored):\n"
        f"    data = open({str(tmp_path)!r} + '/' + name + '.mp4', 'rb').read()\n"
        "    body = {'video': base64.b64encode(data).decode(), 'mirrored': mirrored}\n"
        "    decoded = decode_video_request(body, None, Limits(50, 100, min_hand_frames=0), VideoLimits(), HolisticExtractor(), FramingSettings())\n"
        "    return ((decoded.windows[0, :, :24] / 2 + 0.5) * 256).reshape(55, 12, 2)[[0, 1, 2, 5, 9, 10, 11, 12]].tolist()\n"
        "print(json.dumps({key: shoulders_and_face(*key.split(':')[0:1], key.endswith('flag')) for key in "
        "('filmed:', 'mirrored:flag', 'mirrored:')}))"))
    filmed, flagged, unflagged = (np.array(result[key]) for key in ("filmed:", "mirrored:flag", "mirrored:"))
    left, right = 3, 2  # rows of slots 5 (left shoulder) and 2 (right shoulder)
    assert (filmed[left, :, 0] > filmed[right, :, 0]).all() and (flagged[left, :, 0] > flagged[right, :, 0]).all()
    assert np.median(np.abs(flagged - filmed)) < 3.0  # pixels of the 256 frame: Holistic is nearly mirror-symmetric
    assert np.median(np.abs(unflagged[left, :, 0] - filmed[left, :, 0])) > 10.0  # unflagged, the shoulders' sides are swapped
