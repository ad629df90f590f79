"""The gateway's connection to TorchServe: tokens from its key file, renewed before and after expiry.

TorchServe writes `key_file.json` with an inference and a management key that expire after
`token_expiration_min` (60 by default) and an API key that does not. The gateway reads the key file
for every call (a restarted TorchServe writes new keys), and when a key is about to expire or
TorchServe rejects it, asks TorchServe for a new one (`POST <management>/token?type=<kind>` with
the API key), which rewrites the key file, and retries once. Keys never leave this module: answers
carry TorchServe's bodies, never a header or a key of ours.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp

from scripts.client.core import TOKEN_REJECTED, ClientError, Endpoint, auth_header, read_token

RENEW_MARGIN = timedelta(seconds=5)  # renew a key this long before TorchServe would reject it
START_HINT = "start it with `make web` (or `make serve`)"


class UpstreamError(Exception):
    """TorchServe could not be asked or did not answer; `status` is what the gateway answers (502/503/504)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Answer:
    """TorchServe's answer to one call and how long it took."""

    status: int
    body: bytes
    content_type: str
    seconds: float


class Upstream:
    """Calls TorchServe's inference and management APIs with the right, current key."""

    def __init__(self, endpoint: Endpoint, timeout_s: float = 90.0) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._renewing = asyncio.Lock()
        self.renewals = 0  # keys this gateway had TorchServe renew (tests and logs read it)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _token(self, kind: str, margin: timedelta = RENEW_MARGIN) -> str | None:
        """The current `kind` key, None if it expires within `margin`; UpstreamError if there is no key file."""
        key_file = self.endpoint.key_file
        if not key_file.is_file():
            raise UpstreamError(503, f"TorchServe is not running (no key file at {key_file}): {START_HINT}")
        try:
            return read_token(key_file, kind, now=datetime.now(timezone.utc) + margin)
        except ClientError:
            if not key_file.is_file():  # TorchServe stopped while we read
                raise UpstreamError(503, f"TorchServe is not running (no key file at {key_file}): {START_HINT}") from None
            return None

    async def token(self, kind: str) -> str:
        """A `kind` key TorchServe accepts now, renewed first if it is (about to be) expired."""
        return self._token(kind) or await self.renew(kind, stale=None)

    async def renew(self, kind: str, stale: str | None) -> str:
        """Have TorchServe issue a new `kind` key (unless another call already replaced `stale`) and return it."""
        async with self._renewing:
            current = self._token(kind)
            if current is not None and current != stale:
                return current
            try:
                api_key = read_token(self.endpoint.key_file, "API")
            except ClientError as exc:
                raise UpstreamError(503, f"cannot renew TorchServe's {kind} key: {exc}") from None
            url = f"{self.endpoint.management_url}/token"
            answer = await self._send("POST", url, api_key, params={"type": kind})
            if answer.status != 200:
                raise UpstreamError(502, f"TorchServe refused to renew its {kind} key ({answer.status}): "
                                         f"{message_of(answer.body)}")
            self.renewals += 1
            renewed = self._token(kind, margin=timedelta(0))
            if renewed is None:
                raise UpstreamError(502, f"TorchServe renewed its {kind} key but {self.endpoint.key_file} "
                                         "still holds an expired one")
            return renewed

    async def call(self, method: str, url: str, kind: str, body: bytes | None = None,
                   content_type: str | None = None, params: dict[str, Any] | None = None) -> Answer:
        """One call with the `kind` key; a rejected key is renewed and the call retried once."""
        key = await self.token(kind)
        answer = await self._send(method, url, key, body, content_type, params)
        if rejected_token(answer):
            key = await self.renew(kind, stale=key)
            answer = await self._send(method, url, key, body, content_type, params)
            if rejected_token(answer):
                raise UpstreamError(502, f"TorchServe rejects the {kind} key it issued in {self.endpoint.key_file}")
        return answer

    async def _send(self, method: str, url: str, key: str, body: bytes | None = None,
                    content_type: str | None = None, params: dict[str, Any] | None = None) -> Answer:
        if self._session is None:
            raise RuntimeError("Upstream.start() was not called")
        headers = auth_header(key)
        if content_type:
            headers["Content-Type"] = content_type
        started = time.perf_counter()
        try:
            async with self._session.request(method, url, data=body, headers=headers, params=params) as response:
                data = await response.read()
                return Answer(response.status, data, response.content_type, time.perf_counter() - started)
        except asyncio.TimeoutError:
            raise UpstreamError(504, f"TorchServe did not answer within {self.timeout_s:.0f} s") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(503, f"TorchServe is not reachable at {url.split('/', 3)[2]} "
                                     f"({type(exc).__name__}): {START_HINT}") from None


def message_of(body: bytes) -> str:
    """The message in a TorchServe error body ({"error": ...} from the handler, {"message": ...} from the
    frontend), else its text, shortened."""
    text = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:500] or "(empty answer)"
    if isinstance(data, dict):
        return str(data.get("error") or data.get("message") or text)[:500]
    return text[:500]


def rejected_token(answer: Answer) -> bool:
    """Whether TorchServe refused the key (it answers 400/401 InvalidKeyException for a wrong or expired one)."""
    return answer.status in (400, 401, 403) and TOKEN_REJECTED.encode() in answer.body
