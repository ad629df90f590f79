"""Classify a clip with a running TorchServe and print the top-k glosses.

    python -m scripts.predict ../shared/data/wlasl/pose/32162            # OpenPose frame folder
    python -m scripts.predict sample.npy --model asl300 --top-k 10       # (55, 100) or (T, 55, 2) array
    python -m scripts.predict clip.pose                                  # pose-format file
    python -m scripts.predict clip.mp4                  # video, to <model>_video on the video TorchServe
    .venv-video/bin/python -m scripts.predict clip.mp4 --extract-locally # Holistic here, send keypoints
"""
from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import requests

from scripts.torchserve_ctl import BASE_CONFIG, DEFAULT_RUN_DIR, VIDEO_SUFFIX, read_properties
from scripts.wlasl_data import REPO

VIDEO_FILES = (".mp4", ".webm", ".avi")
VIDEO_CONFIG = REPO / "configs" / "video.properties"
VIDEO_RUN_DIR = REPO / "run-video"


class ClientError(RuntimeError):
    """A prediction that could not be made; the message says why."""


def load_input(path: Path) -> dict[str, Any]:
    """A request body from an OpenPose frame folder, a .npy array or a JSON file."""
    if path.is_dir():
        files = sorted(path.glob("*_keypoints.json")) or sorted(path.glob("*.json"))
        if not files:
            raise ClientError(f"{path}: no OpenPose *_keypoints.json files")
        return {"openpose_frames": [json.loads(f.read_text(encoding="utf-8")) for f in files]}
    if path.suffix == ".npy":
        array = np.load(path, allow_pickle=False)
        return {"frames" if array.ndim == 3 and array.shape[-1] == 2 else "sample": array.tolist()}
    if path.suffix == ".pose":
        return {"pose_file": base64.b64encode(path.read_bytes()).decode("ascii")}
    if path.suffix.lower() in VIDEO_FILES:
        return {"video": base64.b64encode(path.read_bytes()).decode("ascii")}
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {"sample": data}
    raise ClientError(f"{path}: expected an OpenPose frame folder, a .npy array, a .json, .pose or video file")


def extract_locally(path: Path) -> dict[str, Any]:
    """A video -> {"mediapipe_frames": ...} extracted on this machine (needs .venv-video's MediaPipe)."""
    if importlib.util.find_spec("mediapipe") is None:
        raise ClientError("extracting keypoints from a video needs MediaPipe: run with .venv-video/bin/python")
    from handlers.keypoints import InputError
    from scripts.extract_keypoints import extract

    try:
        return {"mediapipe_frames": extract(path.read_bytes())}
    except InputError as exc:
        raise ClientError(f"{path}: {exc}") from None


def read_token(key_file: Path, kind: str = "inference") -> str:
    """A token from TorchServe's key_file.json."""
    try:
        return json.loads(key_file.read_text(encoding="utf-8"))[kind]["key"]
    except FileNotFoundError:
        raise ClientError(f"{key_file} not found: is TorchServe running (make serve)?") from None
    except (KeyError, json.JSONDecodeError) as exc:
        raise ClientError(f"{key_file} has no {kind} key: {exc}") from None


def predict(url: str, model: str, body: dict[str, Any], token: str, version: str | None = None,
            timeout: float = 30.0) -> dict[str, Any]:
    """POST one request to /predictions/<model>[/<version>] and return the decoded answer."""
    target = f"{url}/predictions/{model}" + (f"/{version}" if version else "")
    try:
        response = requests.post(target, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
    except requests.RequestException as exc:
        raise ClientError(f"cannot reach {target}: {exc}") from None
    try:
        answer = response.json()
    except ValueError:
        answer = {"error": response.text}
    if response.status_code != 200:
        message = answer.get("error") or answer.get("message") or response.reason
        raise ClientError(f"{target} answered {response.status_code}: {message}")
    return answer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Classify a clip with a running TorchServe.")
    parser.add_argument("input", type=Path, help="OpenPose frame folder, .npy array, .json body, .pose or video file")
    parser.add_argument("--model", default="asl100")
    parser.add_argument("--version", default=None)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--url", default=read_properties(BASE_CONFIG)["inference_address"])
    parser.add_argument("--key-file", type=Path, default=DEFAULT_RUN_DIR / "key_file.json")
    parser.add_argument("--json", action="store_true", help="print the raw JSON answer")
    parser.add_argument("--extract-locally", action="store_true",
                        help="video: run MediaPipe Holistic here and send only the keypoints")
    parser.add_argument("--video-url", default=read_properties(VIDEO_CONFIG)["inference_address"])
    parser.add_argument("--video-key-file", type=Path, default=VIDEO_RUN_DIR / "key_file.json")
    args = parser.parse_args(argv)
    try:
        body = load_input(args.input)
        url, model, key_file = args.url, args.model, args.key_file
        if "video" in body and args.extract_locally:
            body = extract_locally(args.input)
        elif "video" in body:
            url, model, key_file = args.video_url, args.model + VIDEO_SUFFIX, args.video_key_file
        body["top_k"] = args.top_k
        timeout = 300.0 if model.endswith(VIDEO_SUFFIX) else 30.0  # a video takes ~50 ms per frame
        answer = predict(url, model, body, read_token(key_file), args.version, timeout)
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    print(f"{answer['model']} v{answer['version']}: {args.input}")
    for rank, entry in enumerate(answer["top_k"], 1):
        print(f"{rank:>2}. {entry['gloss']:<20} p={entry['probability']:.4f}  (class {entry['index']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
