"""Start, wait for and stop a TorchServe instance serving this project's archives.

Each instance lives in its own run directory: launch directory (key_file.json is written there),
TMPDIR / java.io.tmpdir (TorchServe's pid file and extracted models), logs, the effective
config.properties and torchserve.pid. Tests run several instances on free loopback ports.

    python -m scripts.serve.torchserve_ctl start [--models asl100 asl300]   # returns when all are READY
    python -m scripts.serve.torchserve_ctl stop
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import requests

from scripts.client.core import BASE_CONFIG, DEFAULT_RUN_DIR, TOKEN_REJECTED, Endpoint, auth_header, read_properties
from scripts.wlasl_data import REPO

DEFAULT_STORE = REPO / "model_store"
# TorchServe's stock KServe envelopes answer only the first request of a batch (the others fail with
# 503), so under them every model is registered with batch size 1 instead of its archive's batchSize.
UNBATCHED_ENVELOPES = ("kserve", "kservev2")
VIDEO_SUFFIX = "_video"  # video archives run on their own instance from .venv-video (README "Video")
LOG_CONFIG = REPO / "configs" / "log4j2.xml"
DEATH_GRACE_S = 10.0  # how long a dead worker's traceback may take to reach the log


class ServeError(RuntimeError):
    """TorchServe did not start, a model did not become READY, or it did not stop."""


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that are free at this moment."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass(frozen=True)
class Ports:
    """The six ports one TorchServe instance binds."""

    inference: int
    management: int
    metrics: int
    grpc_inference: int
    grpc_management: int
    worker: int

    @classmethod
    def free(cls) -> Ports:
        """Six currently free loopback ports (the worker range starts at the last one)."""
        return cls(*free_ports(6))

    def properties(self) -> dict[str, str]:
        """config.properties entries that move an instance onto these ports."""
        return {"inference_address": f"http://127.0.0.1:{self.inference}",
                "management_address": f"http://127.0.0.1:{self.management}",
                "metrics_address": f"http://127.0.0.1:{self.metrics}",
                "grpc_inference_port": str(self.grpc_inference),
                "grpc_management_port": str(self.grpc_management),
                "initial_worker_port": str(self.worker)}


def default_models(store: Path) -> list[str]:
    """The store's archives, less later versions shipped beside them (`<name>-<version>.mar`, scripts/serve/lifecycle.py)
    and video archives (`*_video.mar`, served by their own instance)."""
    stems = sorted(path.stem for path in store.glob("*.mar") if not path.stem.endswith(VIDEO_SUFFIX))
    return [stem for stem in stems if not any(stem.startswith(f"{other}-") for other in stems)]


class TorchServe:
    """One TorchServe instance rooted at `run_dir`."""

    def __init__(self, run_dir: Path = DEFAULT_RUN_DIR, model_store: Path = DEFAULT_STORE,
                 config: Path = BASE_CONFIG, ports: Ports | None = None,
                 overrides: dict[str, str] | None = None, python: Path | None = None,
                 log_config: Path | None = LOG_CONFIG) -> None:
        self.run_dir = Path(run_dir).resolve()
        self.python = Path(python or sys.executable)  # its venv's torchserve, and so its workers' Python
        self.model_store = Path(model_store).resolve()
        self.properties = read_properties(config)
        self.properties.update(overrides or {})
        self.properties.update(ports.properties() if ports else {})  # explicit ports win over an overlay's
        if "metrics_config" in self.properties:  # relative to the config file, as the instance runs elsewhere
            self.properties["metrics_config"] = str(Path(config).resolve().parent / self.properties["metrics_config"])
        self.pid_file = self.run_dir / "torchserve.pid"
        self.log_file = self.run_dir / "torchserve.out"
        self.log_config = log_config
        self.model_log = self.run_dir / "logs" / "model_log.log"
        self.model_log_start = 0  # where this start's lines begin (logs/ outlives a restart)
        self.died_at: dict[str, float] = {}  # model -> when its worker's death was first seen in this start

    @property
    def inference_url(self) -> str:
        return self.properties["inference_address"]

    @property
    def management_url(self) -> str:
        return self.properties["management_address"]

    @property
    def metrics_url(self) -> str:
        return self.properties["metrics_address"]

    @property
    def key_file(self) -> Path:
        return self.run_dir / "key_file.json"

    def keys(self) -> dict[str, str]:
        """The current tokens: {"management", "inference", "API"}."""
        data = json.loads(self.key_file.read_text(encoding="utf-8"))
        return {name: entry["key"] for name, entry in data.items()}

    def headers(self, kind: str = "inference") -> dict[str, str]:
        """Authorization header for the inference or management API (none when tokens are off)."""
        if self.properties.get("disable_token_authorization") == "true":
            return {}
        return auth_header(self.keys()[kind])

    def endpoint(self) -> Endpoint:
        """Where this instance answers, for the client library."""
        return Endpoint.from_properties(self.properties, self.key_file)

    def pid(self) -> int | None:
        """The process-group id of a running instance, if any."""
        try:
            pid = int(self.pid_file.read_text().strip())
            os.killpg(pid, 0)
            return pid
        except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            return None

    def start(self, models: list[str] | None = None, timeout: float = 180.0) -> None:
        """Start TorchServe with `models` (default: every .mar in the store) and wait until all are READY."""
        if self.pid() is not None:
            raise ServeError(f"TorchServe already runs from {self.run_dir} (pid {self.pid()}); stop it first")
        models = models or default_models(self.model_store)
        if not models:
            raise ServeError(f"no archives in {self.model_store}: build them first (make archives)")
        missing = [name for name in models if not (self.model_store / f"{name}.mar").is_file()]
        if missing:
            raise ServeError(f"not in {self.model_store}: {', '.join(m + '.mar' for m in missing)}")
        tmp = self.run_dir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        self.key_file.unlink(missing_ok=True)
        config = self.run_dir / "config.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in self.properties.items()), encoding="utf-8")
        env = dict(os.environ, TMPDIR=str(tmp), TEMP=str(tmp), LOG_LOCATION=str(self.run_dir / "logs"),
                   METRICS_LOCATION=str(self.run_dir / "logs"),
                   JAVA_TOOL_OPTIONS=f"-Djava.io.tmpdir={tmp}")
        command = [str(self.python.with_name("torchserve")), "--start", "--foreground", "--ncs",
                   "--model-store", str(self.model_store), "--ts-config", str(config)]
        unbatched = self.properties.get("service_envelope") in UNBATCHED_ENVELOPES
        if not unbatched:
            command += ["--models", *(f"{name}={name}.mar" for name in models)]
        if self.log_config is not None:
            command += ["--log-config", str(self.log_config)]
        self.model_log_start = self.model_log.stat().st_size if self.model_log.is_file() else 0
        self.died_at.clear()
        process = self.spawn(command, env)
        self.pid_file.write_text(str(process.pid))
        try:
            if unbatched:
                self.register_unbatched(models, timeout, process)
            self.wait_ready(models, timeout, process)
        except BaseException:
            self.stop()
            raise

    def spawn(self, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        """Launch TorchServe (Java) in its own process group, its output to torchserve.out."""
        with open(self.log_file, "wb") as log:
            return subprocess.Popen(command, cwd=self.run_dir, env=env, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def register_unbatched(self, models: list[str], timeout: float, process: subprocess.Popen) -> None:
        """Register `models` from the store with batch size 1, once the management API answers."""
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise ServeError(f"TorchServe exited with code {process.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.management_url}/models", headers=self.headers("management"),
                                timeout=5).status_code == 200:
                    break
            except (requests.RequestException, FileNotFoundError, KeyError, json.JSONDecodeError):
                pass
            if time.monotonic() > deadline:
                raise ServeError(f"management API not up after {timeout:.0f} s\n{self.log_tail()}")
            time.sleep(0.25)
        for name in models:
            response = requests.post(f"{self.management_url}/models", headers=self.headers("management"),
                                     params={"url": f"{name}.mar", "batch_size": 1, "synchronous": "true"},
                                     timeout=max(1.0, deadline - time.monotonic()))
            if response.status_code != 200:
                raise ServeError(f"registering {name}.mar failed ({response.status_code}): {response.text}")

    def wait_ready(self, models: list[str], timeout: float, process: subprocess.Popen | None = None) -> None:
        """Poll the management API until every model has a READY worker; fail fast on load errors."""
        deadline = time.monotonic() + timeout
        pending = list(models)
        while pending:
            if process is not None and process.poll() is not None:
                raise ServeError(f"TorchServe exited with code {process.returncode}:\n{self.log_tail()}")
            failure = self.load_failure(pending)
            if failure:
                raise ServeError(failure)
            if time.monotonic() > deadline:
                raise ServeError(f"not READY after {timeout:.0f} s: {', '.join(pending)}\n{self.log_tail()}")
            pending = [name for name in pending if not self.is_ready(name)]
            if pending:
                time.sleep(0.25)

    def is_ready(self, model: str) -> bool:
        """Whether the model's default version has a READY worker."""
        try:
            response = requests.get(f"{self.management_url}/models/{model}", headers=self.headers("management"),
                                    timeout=5)
            if TOKEN_REJECTED in response.text:  # a start slower than token_expiration_min: renew, poll again
                requests.post(f"{self.management_url}/token?type=management", headers=self.headers("API"), timeout=5)
        except (requests.RequestException, FileNotFoundError, KeyError, json.JSONDecodeError):
            return False
        return response.status_code == 200 and any(worker.get("status") == "READY" for version in response.json()
                                                   for worker in version.get("workers", []))

    def load_failure(self, models: list[str]) -> str | None:
        """The handler's load error for one of `models`, read from the worker log, if any."""
        if not self.model_log.is_file():
            return None
        with open(self.model_log, "rb") as log:
            log.seek(self.model_log_start)
            lines = log.read().decode("utf-8", errors="replace").splitlines()
        for name in models:
            tag = f"-{name}_"
            own = [line for line in lines if tag in line]
            errors = [line.split("MODEL_LOG - ", 1)[-1] for line in own if "Error" in line or "error" in line]
            died = any("Backend worker process died" in line for line in own)
            if died:
                self.died_at.setdefault(name, time.monotonic())
            # The worker logs its death before its traceback: wait for the error line, for a while.
            waited = time.monotonic() - self.died_at.get(name, time.monotonic())
            if (errors and (died or any("Traceback" in line for line in own))) or waited > DEATH_GRACE_S:
                detail = "\n".join(errors[-5:]) or "\n".join(own[-10:])
                return f"model {name} failed to load:\n{detail}"
        return None

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of TorchServe's own output and log."""
        parts = []
        for path in (self.log_file, self.run_dir / "logs" / "ts_log.log"):
            if path.is_file():
                parts.append("\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(parts)

    def stop(self, timeout: float = 60.0) -> bool:
        """SIGTERM the instance's process group and wait until every process in it has exited."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        self.key_file.unlink(missing_ok=True)
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start or stop TorchServe with this project's archives.")
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR)
    parser.add_argument("--model-store", type=Path, default=DEFAULT_STORE)
    parser.add_argument("--config", type=Path, default=BASE_CONFIG)
    parser.add_argument("--overlay", type=Path, default=None,
                        help="a .properties file whose entries replace --config's (configs/video.properties)")
    parser.add_argument("--models", nargs="+", help="archive names (default: every .mar in the store but *_video)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for READY workers")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config.properties entry for this start (e.g. service_envelope=kservev2)")
    args = parser.parse_args(argv)
    if any("=" not in item for item in args.set):
        parser.error("--set takes KEY=VALUE")
    overrides = read_properties(args.overlay) if args.overlay else {}
    overrides.update(item.split("=", 1) for item in args.set)
    server = TorchServe(args.run_dir, args.model_store, args.config, overrides=overrides)
    if args.action == "start":
        try:
            server.start(args.models, args.timeout)
        except ServeError as exc:
            print(f"TorchServe did not start: {exc}", file=sys.stderr)
            return 1
        print(f"TorchServe is READY (pid {server.pid()}): inference {server.inference_url}, "
              f"management {server.management_url}; tokens in {server.key_file}")
    elif args.action == "stop":
        print("TorchServe stopped." if server.stop() else "TorchServe is not running.")
    else:
        pid = server.pid()
        print(f"TorchServe runs (pid {pid})" if pid else "TorchServe is not running.")
        return 0 if pid else 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
