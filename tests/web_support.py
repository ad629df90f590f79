"""Fixtures and helpers of the gateway and browser tests: an asl100-only archive, a TorchServe and a
gateway on free loopback ports (each stopped by PID), and the secrets that must never leave the server."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from scripts.archive import build_archives
from scripts.gateway.cli import background
from scripts.serve.torchserve_ctl import Ports, TorchServe
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


@dataclass(frozen=True)
class Gateway:
    """`python -m scripts.gateway` for one TorchServe, in the background on a free loopback port."""
    url: str
    pid: int
    log: Path
    server: TorchServe


@pytest.fixture(scope="module")
def torchserve(asl100_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TorchServe]:
    instance = start_torchserve(asl100_store, tmp_path_factory.mktemp("web_run"))
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def gateway(torchserve: TorchServe, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with background(torchserve.run_dir / "config.properties", torchserve.key_file,
                    tmp_path_factory.mktemp("gateway")) as running:
        yield Gateway(*running, torchserve)


def secrets(server: TorchServe) -> list[str]:
    """Every key TorchServe issued so far in this run (the key file holds the current ones)."""
    return [key for key in server.keys().values() if key]


def assert_no_secret(text: str, keys: list[str], where: str) -> None:
    for key in keys:
        assert key not in text, f"a TorchServe key appears in {where}"
