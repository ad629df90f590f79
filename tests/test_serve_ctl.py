"""scripts/serve/torchserve_ctl.py: readiness, failing loads reported with their reason, clean stops."""
from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pytest
import requests

from scripts.serve.torchserve_ctl import Ports, ServeError, TorchServe


def tampered_copy(mar: Path, store: Path) -> Path:
    """The archive with one byte of its checkpoint flipped (its recorded sha256 unchanged)."""
    store.mkdir()
    target = store / mar.name
    with zipfile.ZipFile(mar) as source, zipfile.ZipFile(target, "w") as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "ckpt.pth":
                data = data[:1000] + bytes([data[1000] ^ 0xFF]) + data[1001:]
            out.writestr(info, data)
    return target


def processes_in_group(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_tampered_weights_never_serve(model_store: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    tampered_copy(model_store / "asl100.mar", store)
    server = TorchServe(tmp_path / "run", store, ports=Ports.free())
    with pytest.raises(ServeError) as error:
        server.start(timeout=120)
    assert "asl100 failed to load" in str(error.value) and "sha256" in str(error.value)
    assert server.pid() is None and not server.key_file.exists()


def test_two_instances_side_by_side_and_clean_stop(model_store: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(model_store / "asl100.mar", store)
    first = TorchServe(tmp_path / "a", store, ports=Ports.free())
    second = TorchServe(tmp_path / "b", store, ports=Ports.free())
    first.start(timeout=120)
    try:
        second.start(timeout=120)
        pids = [first.pid(), second.pid()]
        for server in (first, second):
            ping = requests.get(f"{server.inference_url}/ping", headers=server.headers(), timeout=10)
            assert ping.status_code == 200 and ping.json()["status"] == "Healthy"
        assert first.keys() != second.keys()
        with pytest.raises(ServeError, match="already runs"):
            first.start()
    finally:
        assert first.stop() and second.stop()
    assert not any(processes_in_group(pid) for pid in pids)
    assert first.pid() is None and not first.key_file.exists()


def test_missing_archive_is_named(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    with pytest.raises(ServeError, match="no archives in"):
        TorchServe(tmp_path / "run", tmp_path / "store").start()
    with pytest.raises(ServeError, match="asl999.mar"):
        TorchServe(tmp_path / "run", tmp_path / "store").start(["asl999"])
