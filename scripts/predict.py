"""Classify a clip with a running TorchServe and print the top-k glosses.

    python -m scripts.predict ../shared/data/wlasl/pose/32162            # OpenPose frame folder
    python -m scripts.predict sample.npy --model asl300 --top-k 10       # (55, 100) or (T, 55, 2) array
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import requests

from scripts.torchserve_ctl import BASE_CONFIG, DEFAULT_RUN_DIR, read_properties


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
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {"sample": data}
    raise ClientError(f"{path}: expected an OpenPose frame folder, a .npy array or a .json file")


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
    parser.add_argument("input", type=Path, help="OpenPose frame folder, .npy array or .json body")
    parser.add_argument("--model", default="asl100")
    parser.add_argument("--version", default=None)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--url", default=read_properties(BASE_CONFIG)["inference_address"])
    parser.add_argument("--key-file", type=Path, default=DEFAULT_RUN_DIR / "key_file.json")
    parser.add_argument("--json", action="store_true", help="print the raw JSON answer")
    args = parser.parse_args(argv)
    try:
        body = load_input(args.input)
        body["top_k"] = args.top_k
        answer = predict(args.url, args.model, body, read_token(args.key_file), args.version)
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
