"""A short soak of the live TorchServe through scripts/bench/soak.py (HTTP and gRPC, valid and hostile requests;
the 10-minute one is `make soak`)."""
from __future__ import annotations

from scripts.bench.soak import main, soak
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
