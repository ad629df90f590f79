"""The gateway's HTTP application (aiohttp): the page, its assets, and the /api routes.

    GET  /                                   the page (web/index.html); /js/*, /css/* its files
    GET  /vendor/holistic/*                  @mediapipe/holistic from web/node_modules (npm ci)
    GET  /api/layout                         the 55-point layout (scripts/gateway/layout.py)
    GET  /api/models                         the models TorchServe serves: names, versions, default
    POST /api/predict/{model}[/{version}]    forwarded to TorchServe's /predictions
    POST /api/points                         a request body -> the 55 points the model sees (replay)
    GET  /api/health                         whether TorchServe answers

Every /api error is JSON {"error": "<what is wrong>", "status": N}: TorchServe's 4xx with its
message, 503 when TorchServe is down, 413 above the request-size limit.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

from aiohttp import web

from handlers.errors import InputError
from handlers.payload import media_type
from scripts.gateway.layout import layout, replay_points
from scripts.gateway.upstream import Answer, Upstream, UpstreamError, message_of
from scripts.serve.lifecycle import version_key

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")  # a model name or version: no '/', no '..' first
HOLISTIC_PACKAGE = Path("node_modules") / "@mediapipe" / "holistic"
# The page loads nothing from elsewhere; the browser enforces it too. Holistic's wasm needs
# 'wasm-unsafe-eval' and its Emscripten loader 'unsafe-eval'; camera frames are blob:/mediastream:.
CSP = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval'; connect-src 'self'; "
       "img-src 'self' data: blob:; media-src 'self' blob: mediastream:; worker-src 'self' blob:; "
       "style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'")
UPSTREAM_KEY = web.AppKey("upstream", Upstream)
LOG = logging.getLogger("scripts.gateway")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message, "status": status}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """/api errors as JSON with a message; security headers on every answer."""
    try:
        response = await handler(request)
    except UpstreamError as exc:
        response = error(exc.status, exc.message)
    except InputError as exc:
        response = error(exc.status, str(exc))
    except web.HTTPException as exc:
        if not request.path.startswith("/api/"):
            raise
        reason = exc.text if exc.status == 413 else exc.reason
        response = error(exc.status, f"{request.method} {request.path}: {reason}")
    except Exception as exc:  # a bug of ours: JSON for the page, the traceback in the gateway's log
        if not request.path.startswith("/api/"):
            raise
        LOG.exception("%s %s failed", request.method, request.path)
        response = error(500, f"the gateway failed on {request.method} {request.path} ({type(exc).__name__})")
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def checked_name(value: str, what: str) -> str:
    if not NAME.fullmatch(value):
        raise InputError(f"{what} {value[:40]!r} is not a model {what}: letters, digits, '_', '-', '.'")
    return value


def forwarded(answer: Answer, gateway_s: float) -> web.Response:
    """TorchServe's answer for the page: 200 bodies as they are, errors as {"error", "status"}."""
    timing = f"torchserve;dur={answer.seconds * 1000:.1f}, gateway;dur={gateway_s * 1000:.1f}"
    if answer.status == 200:
        response = web.Response(body=answer.body, status=200, content_type="application/json")
    else:
        response = error(answer.status, message_of(answer.body))
    response.headers["Server-Timing"] = timing
    return response


async def predict(request: web.Request) -> web.Response:
    started = time.perf_counter()
    model = checked_name(request.match_info["model"], "name")
    version = request.match_info.get("version")
    if version is not None:
        checked_name(version, "version")
    if media_type(request.content_type) != "application/json":
        raise InputError(f"send the request as JSON (Content-Type: application/json), not {request.content_type!r}",
                         status=415)
    body = await request.read()  # over client_max_size: HTTPRequestEntityTooLarge (413)
    upstream = request.app[UPSTREAM_KEY]
    url = f"{upstream.endpoint.inference_url}/predictions/{model}" + (f"/{version}" if version else "")
    answer = await upstream.call("POST", url, "inference", body, "application/json")
    return forwarded(answer, time.perf_counter() - started - answer.seconds)


async def management_json(upstream: Upstream, path: str, params: dict[str, Any] | None = None) -> Any:
    answer = await upstream.call("GET", f"{upstream.endpoint.management_url}{path}", "management", params=params)
    if answer.status != 200:
        raise UpstreamError(502 if answer.status >= 500 else answer.status,
                            f"TorchServe's management API answered {answer.status} to {path}: {message_of(answer.body)}")
    return json.loads(answer.body)


async def models(request: web.Request) -> web.Response:
    """{"models": [{"name", "default", "versions": [...]}, ...]} from TorchServe's management API."""
    upstream = request.app[UPSTREAM_KEY]
    names = [entry["modelName"] for entry in (await management_json(upstream, "/models", {"limit": 1000}))["models"]]

    async def describe(name: str) -> dict[str, Any]:
        every, default = await asyncio.gather(management_json(upstream, f"/models/{name}/all"),
                                              management_json(upstream, f"/models/{name}"))
        return {"name": name, "default": default[0]["modelVersion"],
                "versions": sorted((entry["modelVersion"] for entry in every), key=version_key)}

    return web.json_response({"models": list(await asyncio.gather(*(describe(name) for name in sorted(names))))})


async def points(request: web.Request) -> web.Response:
    if media_type(request.content_type) != "application/json":
        raise InputError("send the request body as JSON (Content-Type: application/json)", status=415)
    body = await request.read()
    return web.json_response(await asyncio.get_running_loop().run_in_executor(None, replay_points, body))


async def health(request: web.Request) -> web.Response:
    upstream = request.app[UPSTREAM_KEY]
    answer = await upstream.call("GET", f"{upstream.endpoint.inference_url}/ping", "inference")
    try:
        said = json.loads(answer.body).get("status", "?")
    except (ValueError, AttributeError):
        said = message_of(answer.body)
    return web.json_response({"gateway": "ok", "torchserve": said}, status=answer.status)


def page(web_root: Path) -> Handler:
    index = web_root / "index.html"

    async def serve(request: web.Request) -> web.FileResponse:
        return web.FileResponse(index)
    return serve


def make_app(upstream: Upstream, web_root: Path, max_body: int) -> web.Application:
    """The gateway for `upstream`, serving the page from `web_root`, refusing bodies over `max_body` bytes."""
    app = web.Application(client_max_size=max_body, middlewares=[json_errors])
    app[UPSTREAM_KEY] = upstream
    app.router.add_get("/", page(web_root))
    layout_json = json.dumps(layout())

    async def layout_route(request: web.Request) -> web.Response:
        return web.Response(text=layout_json, content_type="application/json")

    app.router.add_get("/api/layout", layout_route)
    app.router.add_get("/api/models", models)
    app.router.add_get("/api/health", health)
    app.router.add_post("/api/predict/{model}", predict)
    app.router.add_post("/api/predict/{model}/{version}", predict)
    app.router.add_post("/api/points", points)
    app.router.add_static("/js/", web_root / "js")
    app.router.add_static("/css/", web_root / "css")
    holistic = web_root / HOLISTIC_PACKAGE
    if holistic.is_dir():
        app.router.add_static("/vendor/holistic/", holistic)

    async def on_startup(app: web.Application) -> None:
        await upstream.start()

    async def on_cleanup(app: web.Application) -> None:
        await upstream.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app
