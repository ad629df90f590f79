"""The HTTP transport of scripts.client.core: TorchServe's REST inference (/predictions) and management APIs."""
from __future__ import annotations

from typing import Any

import requests

from scripts.client.core import TOKEN_REJECTED, ClientError, Endpoint, auth_header, check_answer, read_token


class HttpClient:
    """The REST inference (/predictions) and management APIs."""

    def __init__(self, endpoint: Endpoint, timeout: float = 60.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout

    def _call(self, method: str, url: str, kind: str, **kwargs: Any) -> Any:
        headers = auth_header(read_token(self.endpoint.key_file, kind))
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
