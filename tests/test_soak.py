"""A short soak of the live TorchServe through scripts/bench/soak.py (HTTP, gRPC and the browser gateway, valid
and hostile requests; the 10-minute one is `make soak`)."""
from __future__ import annotations

from pathlib import Path

from scripts.bench.soak import main, soak
from scripts.gateway import cli as gateway_cli
from scripts.serve.torchserve_ctl import TorchServe
from tests.conftest import CLIP


def test_short_soak_answers_every_request_correctly(server: TorchServe) -> None:
    report = soak(server, "asl100", clients=16, seconds=5, max_requests=None, clip=CLIP, warmup=5)
    assert report["requests"] > 16 and report["errors"] == 0
    assert report["correct"] + report["refused"] == report["requests"] and report["correct"] > report["refused"] > 0
    assert {"correct", "refused 400", "refused 422"} <= set(report["statuses"])
    assert report["worker_pids_start"] == report["worker_pids_end"]
    assert report["worker_rss_mib_start"] > 50 and report["frontend_rss_mib_start"] > 50
    assert report["p99_ms"] >= report["p50_ms"] > 0
    assert report["log_bytes_per_1000_requests"]["total"] > 0
    assert report["log_bytes_per_1000_requests"].get("torchserve.out", 0) == 0  # nothing below WARN on stdout


def test_soak_cli_against_a_running_instance(server: TorchServe, capsys) -> None:
    code = main(["--run-dir", str(server.run_dir), "--model-store", str(server.model_store),
                 "--seconds", "1", "--clients", "4", "--clip", str(CLIP)])
    out = capsys.readouterr().out
    assert '"errors": 0' in out and '"worker_rss_mib_end"' in out
    assert code == 0


def test_short_soak_through_the_gateway_too(server: TorchServe, tmp_path: Path) -> None:
    with gateway_cli.background(server.run_dir / "config.properties", server.key_file, tmp_path) as gateway:
        report = soak(server, "asl100", clients=8, seconds=5, max_requests=None, clip=CLIP, warmup=2, gateway=gateway)
    assert report["gateway"] and report["errors"] == 0 and report["correct"] > report["refused"] > 0
    assert report["gateway_rss_mib_start"] > 20 and "gateway_rss_growth_pct" in report
    assert gateway_cli.running_pid(tmp_path / "gateway.pid") is None  # stopped by its PID
