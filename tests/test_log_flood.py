"""Logs cannot be used to fill the disk: a rejected request costs at most one short log line (no
traceback), and every log file rolls at a size with a bounded number kept."""
from __future__ import annotations

import logging
import xml.etree.ElementTree as ET

from handlers.log_hygiene import keep_record
from scripts.bench.log_flood import flood, rolling_config
from scripts.bench.mixed import HOSTILE
from scripts.serve.torchserve_ctl import LOG_CONFIG, TorchServe

MAX_BYTES_PER_BAD_REQUEST = 200  # model_log: one line of about 130 bytes per rejecting batch (was ~390 on average)


def record(module: str, message: str) -> logging.LogRecord:
    return logging.LogRecord("root", logging.WARNING, f"/x/ts/protocol/{module}.py", 1, message, None, None)


def test_only_the_workers_body_decoding_warnings_are_dropped() -> None:
    assert not keep_record(record("otf_message_handler", "Failed json decoding of input data. Forwarding encoded payload"))
    assert not keep_record(record("otf_message_handler", "Failed utf-8 decoding of input data. Forwarding encoded payload"))
    assert keep_record(record("otf_message_handler", "Unable to serialize model output."))
    assert keep_record(record("tgcn_handler", "Failed json decoding of input data"))


def test_every_log_file_rolls_at_a_size_and_keeps_a_bounded_number(tmp_path) -> None:
    for config in (LOG_CONFIG, rolling_config("16 KB", tmp_path)):
        appenders = ET.parse(config).getroot().find("Appenders")
        rolling = appenders.findall("RollingFile")
        assert {a.get("name") for a in rolling} == {"access_log", "model_log", "model_metrics", "ts_log", "ts_metrics"}
        for appender in rolling:
            assert appender.find("Policies/SizeBasedTriggeringPolicy").get("size") in ("20 MB", "16 KB")
            assert int(appender.find("DefaultRolloverStrategy").get("max")) == 5
        assert [a.tag for a in appenders] == ["Console", *["RollingFile"] * 5]  # no unbounded file appender


def test_bad_requests_cost_one_short_line_each(server: TorchServe) -> None:
    model_log = server.run_dir / "logs" / "model_log.log"
    start = model_log.stat().st_size
    report = flood(server, "asl100", count=6 * len(HOSTILE), clients=2)
    assert report["refused_as_expected"] == report["bad_requests"] == 6 * len(HOSTILE), report["first_failures"]
    written = model_log.read_bytes()[start:].decode("utf-8", errors="replace")
    assert "Traceback" not in written and "Failed json decoding" not in written
    assert report["log_bytes_per_1000_bad_requests"]["model_log.log"] <= 1000 * MAX_BYTES_PER_BAD_REQUEST
    assert report["log_bytes_per_1000_bad_requests"].get("torchserve.out", 0) == 0
