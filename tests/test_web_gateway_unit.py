"""The gateway in-process against a fake TorchServe (no Java): key renewal when TorchServe refuses a key
or it is about to expire, one renewal for many waiting calls, 502/503/504 with their messages, the
layout served from the handler's tables, the request-size limit and loopback by default."""
from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest

from handlers.mediapipe_map import BODY_SOURCES
from scripts.client.core import TOKEN_REJECTED, Endpoint
from scripts.gateway.cli import DEFAULT_HOST, is_loopback, main

aiohttp = pytest.importorskip("aiohttp", reason="scripts/setup_web.sh installs the gateway's aiohttp")
from aiohttp import web  # noqa: E402
from aiohttp.test_utils import TestServer  # noqa: E402

from scripts.gateway.app import make_app  # noqa: E402
from scripts.gateway.upstream import Upstream  # noqa: E402

WEB_ROOT = Path(__file__).resolve().parents[1] / "web"


def stamp(when: datetime) -> str:
    """TorchServe's expiration time format (nanoseconds, Z)."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


@dataclass
class FakeTorchServe:
    """Keys in a key file as TorchServe writes them; /token renews one; predictions check the key."""

    key_file: Path
    keys: dict[str, str] = field(default_factory=dict)
    renewals: list[str] = field(default_factory=list)
    refuse_all: bool = False
    delay_s: float = 0.0

    def write(self, expires_in_s: float = 3600.0) -> None:
        when = datetime.now(timezone.utc) + timedelta(seconds=expires_in_s)
        data = {kind: {"key": key, "expiration time": stamp(when)} for kind, key in self.keys.items() if kind != "API"}
        data["API"] = {"key": self.keys["API"]}
        self.key_file.write_text(json.dumps(data))

    def issue(self, kind: str) -> None:
        self.keys[kind] = secrets.token_urlsafe(6)

    def allowed(self, request: web.Request, kind: str) -> bool:
        return not self.refuse_all and request.headers.get("Authorization") == f"Bearer {self.keys[kind]}"

    def app(self) -> web.Application:
        refused = {"code": 400, "type": "InvalidKeyException",
                   "message": f"{TOKEN_REJECTED}. Token either incorrect, expired, or not provided correctly"}

        async def predict(request: web.Request) -> web.Response:
            await asyncio.sleep(self.delay_s)
            if not self.allowed(request, "inference"):
                return web.json_response(refused, status=400)
            if (await request.json()).get("bad"):
                return web.json_response({"error": "unknown field(s) 'bad'", "status": 400}, status=400)
            return web.json_response({"model": request.match_info["model"], "version": "1.0", "top_k": []})

        async def token(request: web.Request) -> web.Response:
            if request.headers.get("Authorization") != f"Bearer {self.keys['API']}":
                return web.json_response(refused, status=400)
            kind = request.query["type"]
            self.renewals.append(kind)
            self.issue(kind)
            self.write()
            return web.Response(text="")

        async def models(request: web.Request) -> web.Response:
            if not self.allowed(request, "management"):
                return web.json_response(refused, status=400)
            return web.json_response({"models": [{"modelName": "asl100"}]})

        async def describe(request: web.Request) -> web.Response:
            if not self.allowed(request, "management"):
                return web.json_response(refused, status=400)
            return web.json_response([{"modelName": "asl100", "modelVersion": v} for v in ("1.10", "1.2")]
                                     if request.match_info.get("all") else [{"modelVersion": "1.2"}])

        app = web.Application()
        app.router.add_post("/predictions/{model}", predict)
        app.router.add_post("/token", token)
        app.router.add_get("/models", models)
        app.router.add_get("/models/{name}", describe)
        app.router.add_get("/models/{name}/{all:all}", describe)
        return app


Scenario = Callable[[FakeTorchServe, str, "aiohttp.ClientSession"], Awaitable[None]]


def run(tmp_path: Path, scenario: Scenario, expires_in_s: float = 3600.0, upstream_timeout_s: float = 10.0,
        fake_running: bool = True, max_body: int = 1 << 20) -> FakeTorchServe:
    """Start the fake TorchServe and the gateway in this process, run `scenario(fake, gateway_url, session)`."""
    fake = FakeTorchServe(tmp_path / "key_file.json")
    for kind in ("inference", "management", "API"):
        fake.issue(kind)
    fake.write(expires_in_s)

    async def main_() -> None:
        backend = TestServer(fake.app(), host="127.0.0.1")
        await backend.start_server()
        url = str(backend.make_url("")).rstrip("/")
        if not fake_running:
            await backend.close()
        endpoint = Endpoint(url, url, "127.0.0.1:1", "127.0.0.1:1", fake.key_file)
        gateway = TestServer(make_app(Upstream(endpoint, upstream_timeout_s), WEB_ROOT, max_body), host="127.0.0.1")
        await gateway.start_server()
        try:
            async with aiohttp.ClientSession() as session:
                await scenario(fake, str(gateway.make_url("")).rstrip("/"), session)
        finally:
            await gateway.close()
            await backend.close()

    asyncio.run(main_())
    return fake


async def post(session: "aiohttp.ClientSession", url: str, body: Any) -> tuple[int, dict]:
    async with session.post(url, json=body) as response:
        return response.status, await response.json()


def test_refused_key_is_renewed_and_the_call_retried(tmp_path: Path) -> None:
    async def scenario(fake: FakeTorchServe, url: str, session) -> None:
        fake.issue("inference")  # TorchServe forgot the key in the file (as after expiry)
        status, answer = await post(session, f"{url}/api/predict/asl100", {})
        assert status == 200 and answer["model"] == "asl100"

    assert run(tmp_path, scenario).renewals == ["inference"]


def test_key_about_to_expire_is_renewed_first(tmp_path: Path) -> None:
    async def scenario(fake: FakeTorchServe, url: str, session) -> None:
        async with session.get(f"{url}/api/models") as response:
            assert await response.json() == {"models": [{"name": "asl100", "default": "1.2", "versions": ["1.2", "1.10"]}]}

    assert run(tmp_path, scenario, expires_in_s=2.0).renewals == ["management"]  # within the 5 s margin


def test_many_waiting_calls_share_one_renewal(tmp_path: Path) -> None:
    async def scenario(fake: FakeTorchServe, url: str, session) -> None:
        fake.issue("inference")
        answers = await asyncio.gather(*(post(session, f"{url}/api/predict/asl100", {}) for _ in range(12)))
        assert [status for status, _ in answers] == [200] * 12

    assert run(tmp_path, scenario).renewals == ["inference"]


def test_key_refused_after_renewal_is_502(tmp_path: Path) -> None:
    async def scenario(fake: FakeTorchServe, url: str, session) -> None:
        fake.refuse_all = True
        status, answer = await post(session, f"{url}/api/predict/asl100", {})
        assert status == 502 and "rejects the inference key it issued" in answer["error"]

    run(tmp_path, scenario)


def test_handler_4xx_is_passed_through(tmp_path: Path) -> None:
    async def scenario(fake: FakeTorchServe, url: str, session) -> None:
        assert await post(session, f"{url}/api/predict/asl100", {"bad": 1}) == (
            400, {"error": "unknown field(s) 'bad'", "status": 400})

    assert run(tmp_path, scenario).renewals == []


def test_no_key_file_is_503_not_running(tmp_path: Path) -> None:
    async def scenario(fake: FakeTorchServe, url: str, session) -> None:
        fake.key_file.unlink()
        status, answer = await post(session, f"{url}/api/predict/asl100", {})
        assert status == 503 and "TorchServe is not running (no key file" in answer["error"]

    run(tmp_path, scenario)


def test_nobody_listening_is_503_not_reachable(tmp_path: Path) -> None:
    async def scenario(fake: FakeTorchServe, url: str, session) -> None:
        status, answer = await post(session, f"{url}/api/predict/asl100", {})
        assert status == 503 and "TorchServe is not reachable" in answer["error"]

    run(tmp_path, scenario, fake_running=False)


def test_slow_torchserve_is_504(tmp_path: Path) -> None:
    async def scenario(fake: FakeTorchServe, url: str, session) -> None:
        fake.delay_s = 2.0
        status, answer = await post(session, f"{url}/api/predict/asl100", {})
        assert status == 504 and "did not answer within" in answer["error"]

    run(tmp_path, scenario, upstream_timeout_s=0.5)


def test_body_over_the_limit_is_413_before_torchserve(tmp_path: Path) -> None:
    async def scenario(fake: FakeTorchServe, url: str, session) -> None:
        status, answer = await post(session, f"{url}/api/predict/asl100", {"pad": "x" * 2048})
        assert status == 413 and "Maximum request body size 1024 exceeded" in answer["error"]

    run(tmp_path, scenario, max_body=1024)


def test_layout_comes_from_the_handler(tmp_path: Path) -> None:
    async def scenario(fake: FakeTorchServe, url: str, session) -> None:
        async with session.get(f"{url}/api/layout") as response:
            layout = await response.json()
        assert [tuple(s) if isinstance(s, list) else s for s in layout["body_sources"]] == list(BODY_SOURCES)

    run(tmp_path, scenario)


def test_loopback_by_default_and_warned_otherwise(capsys: pytest.CaptureFixture[str]) -> None:
    assert DEFAULT_HOST == "127.0.0.1" and is_loopback(DEFAULT_HOST) and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "default 127.0.0.1, loopback" in capsys.readouterr().out
