"""The client's core: where an instance answers (Endpoint), its tokens, request bodies, errors.

The transports build on this module (http_client.py, grpc_client.py, kserve_client.py), the CLI on
them; it imports no other part of the project, so `pip install '.[client]'` needs no torch or TorchServe.
Tokens come from TorchServe's key_file.json (`run/key_file.json` unless another path is given).
Default paths are those of the checkout this package lives in; an installed copy uses
$TGCN_SERVE_HOME, else the current directory.
"""
from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import numpy as np



def home() -> Path:
    """The checkout this package lives in, else $TGCN_SERVE_HOME, else the current directory."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "config.properties").is_file() and (checkout / "handlers").is_dir():
        return checkout
    return Path(os.environ.get("TGCN_SERVE_HOME") or Path.cwd())


HOME = home()
BASE_CONFIG = HOME / "config.properties"  # the instance of `make serve`
DEFAULT_RUN_DIR = HOME / "run"
DEFAULT_KEY_FILE = DEFAULT_RUN_DIR / "key_file.json"
VIDEO_CONFIG = HOME / "configs" / "video.properties"  # the video TorchServe (make serve-video)
VIDEO_RUN_DIR = HOME / "run-video"
VIDEO_FILES = (".mp4", ".webm", ".avi")
TOKEN_REJECTED = "Token Authorization failed"


class ClientError(RuntimeError):
    """A call that did not succeed; the message says why. `status` is the HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Endpoint:
    """Where one TorchServe instance answers, and where its tokens are."""

    inference_url: str
    management_url: str
    grpc_inference: str
    grpc_management: str
    key_file: Path = DEFAULT_KEY_FILE

    @classmethod
    def from_properties(cls, properties: dict[str, str], key_file: Path = DEFAULT_KEY_FILE) -> Endpoint:
        """The endpoint a config.properties describes."""
        host = properties.get("grpc_inference_address", "127.0.0.1")
        management_host = properties.get("grpc_management_address", "127.0.0.1")
        return cls(properties["inference_address"], properties["management_address"],
                   f"{host}:{properties.get('grpc_inference_port', '7070')}",
                   f"{management_host}:{properties.get('grpc_management_port', '7071')}", Path(key_file))

    @classmethod
    def from_config(cls, config: Path = BASE_CONFIG, key_file: Path = DEFAULT_KEY_FILE) -> Endpoint:
        """The endpoint of `make serve` (config.properties, run/key_file.json)."""
        return cls.from_properties(read_properties(config), key_file)


def read_properties(path: Path) -> dict[str, str]:
    """A Java .properties file's key=value lines (comments dropped)."""
    properties = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")) and "=" in line:
            key, value = line.split("=", 1)
            properties[key.strip()] = value.strip()
    return properties


def auth_header(token: str) -> dict[str, str]:
    """The HTTP header that carries a TorchServe token."""
    return {"Authorization": f"Bearer {token}"}


def auth_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """The gRPC metadata that carries a TorchServe token."""
    return (("authorization", f"Bearer {token}"),)


def read_token(key_file: Path, kind: str = "inference", now: datetime | None = None) -> str:
    """The `kind` token ("inference" or "management") from key_file.json; ClientError if missing or expired."""
    try:
        entry = json.loads(Path(key_file).read_text(encoding="utf-8"))[kind]
        key = entry["key"]
    except FileNotFoundError:
        raise ClientError(f"token file {key_file} not found: is TorchServe running (make serve)? "
                          "Pass --key-file for an instance started elsewhere") from None
    except PermissionError:
        raise ClientError(f"token file {key_file} is not readable by this user (it is mode 600)") from None
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ClientError(f"token file {key_file} has no {kind} key ({exc!r})") from None
    expires = entry.get("expiration time")
    if expires and expiry(expires) <= (now or datetime.now(timezone.utc)):
        raise ClientError(f"the {kind} token in {key_file} expired at {expires}: restart TorchServe "
                          "(make stop && make serve) for new keys")
    return key


def expiry(stamp: str) -> datetime:
    """TorchServe's expiration time (ISO 8601 with nanoseconds and Z) as an aware datetime."""
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", stamp.strip()).replace("Z", "+00:00")
    return datetime.fromisoformat(trimmed)


def load_input(path: Path) -> dict[str, Any]:
    """A request body from an OpenPose frame folder, a .npy array, a .json body, a .pose file or a video."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*_keypoints.json")) or sorted(path.glob("*.json"))
        if not files:
            raise ClientError(f"{path}: no OpenPose *_keypoints.json files")
        return {"openpose_frames": [json.loads(f.read_text(encoding="utf-8")) for f in files]}
    if not path.is_file():
        raise ClientError(f"{path}: no such file or folder")
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
    from handlers.errors import InputError
    from scripts.tools.extract_keypoints import extract

    try:
        return {"mediapipe_frames": extract(Path(path).read_bytes())}
    except InputError as exc:
        raise ClientError(f"{path}: {exc}") from None


def check_answer(answer: Any, where: str) -> dict[str, Any]:
    """A prediction answer, or ClientError for the handler's {"error": ...} body."""
    if not isinstance(answer, dict):
        raise ClientError(f"{where} answered something that is not a JSON object: {str(answer)[:200]}")
    if "error" in answer:
        raise ClientError(f"{where} rejected the request: {answer['error']}", answer.get("status", 400))
    return answer


class Client(Protocol):
    """What both transports offer."""

    def predict(self, model: str, body: dict[str, Any], version: str | None = None) -> dict[str, Any]: ...
    def list_models(self) -> list[str]: ...
    def describe(self, model: str, version: str | None = "all") -> list[dict[str, Any]]: ...
    def register(self, archive: str, batch_size: int | None = None, workers: int = 1) -> str: ...
    def set_default(self, model: str, version: str) -> str: ...
    def scale(self, model: str, workers: int, version: str | None = None) -> str: ...
    def unregister(self, model: str, version: str | None = None) -> str: ...
