"""Fixtures and helpers of the gateway and browser tests: an asl100-only archive, a TorchServe and a
gateway on free loopback ports (each stopped by PID), and the secrets that must never leave the server."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests

from scripts.archive import build_archives
from scripts.serve.torchserve_ctl import Ports, TorchServe, free_ports
from scripts.wlasl_data import REPO
from tests.conftest import real_data


@pytest.fixture(scope="module")
def asl100_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """asl100.mar only (the real weights), built by the project's build command: seconds, not minutes."""
    store = tmp_path_factory.mktemp("web_store")
    assert build_archives.main(["--variants", "asl100", "--data", str(real_data()), "--export-path", str(store),
                                "--build-dir", str(tmp_path_factory.mktemp("web_build")), "--require"]) == 0
    return store


def start_torchserve(store: Path, run_dir: Path, overrides: dict[str, str] | None = None) -> TorchServe:
    instance = TorchServe(run_dir, store, ports=Ports.free(), overrides=overrides)
    instance.start(["asl100"], timeout=240)
    return instance


class Gateway:
    """`python -m scripts.gateway serve` for one TorchServe, on a free loopback port."""

    def __init__(self, server: TorchServe, log: Path, extra: list[str] | None = None) -> None:
        self.server = server
        self.port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = [sys.executable, "-m", "scripts.gateway", "serve", "--port", str(self.port),
                   "--config", str(server.run_dir / "config.properties"), "--key-file", str(server.key_file),
                   *(extra or [])]
        with open(log, "wb") as out:
            self.process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, log.read_text()
            try:
                if requests.get(f"{self.url}/api/layout", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"gateway did not answer:\n{log.read_text()}"
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture(scope="module")
def torchserve(asl100_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TorchServe]:
    instance = start_torchserve(asl100_store, tmp_path_factory.mktemp("web_run"))
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def gateway(torchserve: TorchServe, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    instance = Gateway(torchserve, tmp_path_factory.mktemp("gateway") / "gateway.out")
    yield instance
    instance.stop()


def secrets(server: TorchServe) -> list[str]:
    """Every key TorchServe issued so far in this run (the key file holds the current ones)."""
    return [key for key in server.keys().values() if key]


def assert_no_secret(text: str, keys: list[str], where: str) -> None:
    for key in keys:
        assert key not in text, f"a TorchServe key appears in {where}"
