"""Run the gateway in the foreground (`serve`), or start / stop / check a background one.

    python -m scripts.gateway start     # background; returns when it answers, prints the URL to open
    python -m scripts.gateway stop
    python -m scripts.gateway serve --port 8000 --config run/config.properties --key-file run/key_file.json

It binds 127.0.0.1 unless --host says otherwise. TorchServe's addresses come from --config (the
project's config.properties), its keys from --key-file, and the request-size limit is TorchServe's
own `max_request_size` from the same file, so a body the gateway lets through is one TorchServe takes.
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, NamedTuple

import requests

from scripts.client.core import BASE_CONFIG, DEFAULT_KEY_FILE, DEFAULT_RUN_DIR, Endpoint, read_properties
from scripts.serve.torchserve_ctl import free_ports
from scripts.wlasl_data import REPO

WEB_ROOT = REPO / "web"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_BODY = 6553500  # TorchServe's own default max_request_size
PID_FILE = DEFAULT_RUN_DIR / "gateway.pid"
LOG_FILE = DEFAULT_RUN_DIR / "gateway.out"


def default_port() -> int:
    """GATEWAY_PORT from the environment (make web passes it), else 8000."""
    return int(os.environ.get("GATEWAY_PORT", DEFAULT_PORT))


def max_body(config: Path) -> int:
    """TorchServe's max_request_size from `config` (its default when unset)."""
    return int(read_properties(config).get("max_request_size", DEFAULT_MAX_BODY))


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(args: argparse.Namespace) -> int:
    # aiohttp only here: `stop` and `status` (make stop) work where scripts/setup_web.sh never ran.
    from aiohttp import web

    from scripts.gateway.app import HOLISTIC_PACKAGE, make_app
    from scripts.gateway.upstream import Upstream

    if not (args.web_root / HOLISTIC_PACKAGE).is_dir():
        print(f"gateway: {args.web_root / HOLISTIC_PACKAGE} is missing: run `bash scripts/setup_web.sh` "
              "(npm ci in web/; `make web` does it)", file=sys.stderr)
        return 1
    if not is_loopback(args.host):
        print(f"gateway: WARNING: binding {args.host}, not loopback: the page and the API are reachable from "
              "other machines, without TLS or login. Put a TLS proxy with authentication in front.", file=sys.stderr)
    endpoint = Endpoint.from_properties(read_properties(args.config), args.key_file)
    limit = args.max_body or max_body(args.config)
    app = make_app(Upstream(endpoint), args.web_root, limit)
    print(f"gateway: serving {args.web_root} on http://{args.host}:{args.port}/ -> TorchServe "
          f"{endpoint.inference_url} (keys from {endpoint.key_file}); request limit {limit} bytes", flush=True)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)
    return 0


def running_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None


def start(args: argparse.Namespace, timeout: float = 30.0) -> int:
    url = f"http://{args.host}:{args.port}/"
    if running_pid(args.pid_file):
        print(f"gateway already runs (pid {running_pid(args.pid_file)}): open {url}")
        return 0
    args.pid_file.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "scripts.gateway", "serve", "--host", args.host, "--port", str(args.port),
               "--config", str(args.config), "--key-file", str(args.key_file), "--web-root", str(args.web_root)]
    with open(args.log_file, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    args.pid_file.write_text(str(process.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            args.pid_file.unlink(missing_ok=True)
            print(f"gateway exited with code {process.returncode}:\n{args.log_file.read_text(errors='replace')}",
                  file=sys.stderr)
            return 1
        try:
            if requests.get(f"{url}api/layout", timeout=1).status_code == 200:
                print(f"gateway runs (pid {process.pid}); log in {args.log_file}\n\n    Open {url} in your browser\n")
                return 0
        except requests.RequestException:
            pass
        time.sleep(0.2)
    stop(args)
    print(f"gateway did not answer on {url} within {timeout:.0f} s; see {args.log_file}", file=sys.stderr)
    return 1


def stop(args: argparse.Namespace, timeout: float = 10.0) -> int:
    pid = running_pid(args.pid_file)
    if pid is None:
        args.pid_file.unlink(missing_ok=True)
        print("gateway is not running.")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running_pid(args.pid_file):
        time.sleep(0.1)
    if running_pid(args.pid_file):
        os.kill(pid, signal.SIGKILL)
    args.pid_file.unlink(missing_ok=True)
    print("gateway stopped.")
    return 0


class Running(NamedTuple):
    """A gateway in the background: where it answers, its PID and its log."""
    url: str
    pid: int
    log: Path


@contextmanager
def background(config: Path, key_file: Path, directory: Path) -> Iterator[Running]:
    """`start` on a free loopback port for the TorchServe that `config` and `key_file` describe, the PID
    and log files in `directory`; `stop` (by the PID) on leaving. The soak and the tests run it."""
    port, pid_file, log = free_ports(1)[0], directory / "gateway.pid", directory / "gateway.out"
    files = ["--pid-file", str(pid_file), "--log-file", str(log)]
    if main(["start", "--port", str(port), "--config", str(config), "--key-file", str(key_file), *files]) != 0:
        raise RuntimeError(f"the gateway did not start: {log.read_text(errors='replace')}")
    try:
        yield Running(f"http://{DEFAULT_HOST}:{port}", int(pid_file.read_text()), log)
    finally:
        main(["stop", *files])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.gateway", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("serve", "start", "stop", "status"))
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST}, loopback)")
    parser.add_argument("--port", type=int, default=default_port())
    parser.add_argument("--config", type=Path, default=BASE_CONFIG, help="TorchServe's config.properties")
    parser.add_argument("--key-file", type=Path, default=DEFAULT_KEY_FILE, help="TorchServe's key_file.json")
    parser.add_argument("--web-root", type=Path, default=WEB_ROOT)
    parser.add_argument("--max-body", type=int, default=None,
                        help="request-size limit in bytes (default: TorchServe's max_request_size)")
    parser.add_argument("--pid-file", type=Path, default=PID_FILE)
    parser.add_argument("--log-file", type=Path, default=LOG_FILE)
    args = parser.parse_args(argv)
    if args.action == "serve":
        return serve(args)
    if args.action == "start":
        return start(args)
    if args.action == "stop":
        return stop(args)
    pid = running_pid(args.pid_file)
    print(f"gateway runs (pid {pid})" if pid else "gateway is not running.")
    return 0 if pid else 3
