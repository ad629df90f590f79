"""Client library for tgcn-serve: predictions and model management over HTTP or gRPC.

    from scripts.client.core import Endpoint, connect, load_input
    client = connect(Endpoint.from_config(), "grpc")        # or "http"
    answer = client.predict("asl100", load_input(Path("../shared/data/wlasl/pose/32162")))

Both transports have the same methods and raise ClientError with a message that says what went
wrong (missing or expired token, unknown model or version, bad input, server down). Tokens come
from TorchServe's key_file.json (`run/key_file.json` unless another path is given). The KServe
protocols are in scripts/client/kserve_client.py, versioning in scripts/serve/lifecycle.py, the CLI in scripts/client/cli.py.
"""
from __future__ import annotations

import base64
import importlib.util
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import requests

from scripts.serve.torchserve_ctl import BASE_CONFIG, DEFAULT_RUN_DIR, TOKEN_REJECTED, TorchServe, read_properties
from scripts.wlasl_data import REPO

DEFAULT_KEY_FILE = DEFAULT_RUN_DIR / "key_file.json"
VIDEO_FILES = (".mp4", ".webm", ".avi")
VIDEO_CONFIG = REPO / "configs" / "video.properties"  # the video TorchServe (make serve-video)
VIDEO_RUN_DIR = REPO / "run-video"


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

    @classmethod
    def of(cls, server: TorchServe) -> Endpoint:
        """The endpoint of an instance started with scripts.serve.torchserve_ctl."""
        return cls.from_properties(server.properties, server.key_file)


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


class HttpClient:
    """The REST inference (/predictions) and management APIs."""

    def __init__(self, endpoint: Endpoint, timeout: float = 60.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout

    def _call(self, method: str, url: str, kind: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {read_token(self.endpoint.key_file, kind)}"}
        try:
            response = requests.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise ClientError(f"cannot reach {url}: {exc}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = {"message": response.text}
        if response.status_code == 200:
            return answer
        message = answer.get("error") or answer.get("message") if isinstance(answer, dict) else str(answer)
        if TOKEN_REJECTED in str(message):
            raise ClientError(f"{url}: the {kind} token from {self.endpoint.key_file} was rejected (wrong, expired "
                              "or from another instance)", response.status_code)
        raise ClientError(f"{method} {url} answered {response.status_code}: {message or response.reason}",
                          response.status_code)

    def predict(self, model: str, body: dict[str, Any], version: str | None = None) -> dict[str, Any]:
        """POST one request body to /predictions/<model>[/<version>]."""
        url = f"{self.endpoint.inference_url}/predictions/{model}" + (f"/{version}" if version else "")
        return check_answer(self._call("POST", url, "inference", json=body), url)

    def list_models(self) -> list[str]:
        answer = self._call("GET", f"{self.endpoint.management_url}/models", "management", params={"limit": 1000})
        return [entry["modelName"] for entry in answer["models"]]

    def describe(self, model: str, version: str | None = "all") -> list[dict[str, Any]]:
        """`model` as the management API describes it: every version ("all"), one, or (None) the default."""
        suffix = f"/{version}" if version else ""
        return self._call("GET", f"{self.endpoint.management_url}/models/{model}{suffix}", "management")

    def register(self, archive: str, batch_size: int | None = None, workers: int = 1) -> str:
        """Register an archive of the model store by file name; returns when its workers are up."""
        params: dict[str, Any] = {"url": archive, "initial_workers": workers, "synchronous": "true"}
        if batch_size:
            params["batch_size"] = batch_size
        return self._call("POST", f"{self.endpoint.management_url}/models", "management", params=params)["status"]

    def set_default(self, model: str, version: str) -> str:
        url = f"{self.endpoint.management_url}/models/{model}/{version}/set-default"
        return self._call("PUT", url, "management")["status"]

    def scale(self, model: str, workers: int, version: str | None = None) -> str:
        url = f"{self.endpoint.management_url}/models/{model}" + (f"/{version}" if version else "")
        params = {"min_worker": workers, "max_worker": workers, "synchronous": "true"}
        return self._call("PUT", url, "management", params=params)["status"]

    def unregister(self, model: str, version: str | None = None) -> str:
        url = f"{self.endpoint.management_url}/models/{model}" + (f"/{version}" if version else "")
        return self._call("DELETE", url, "management")["status"]


def connect(endpoint: Endpoint, transport: str = "http", timeout: float = 60.0) -> Client:
    """A client for `transport` "http" or "grpc"."""
    if transport == "http":
        return HttpClient(endpoint, timeout)
    if transport == "grpc":
        from scripts.client.grpc_client import GrpcClient
        return GrpcClient(endpoint, timeout)
    raise ClientError(f"unknown transport {transport!r}: use http or grpc")
