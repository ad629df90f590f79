"""Log flooding: how many log bytes 1,000 rejected requests cost, and whether log rolling caps the total.

Sends `--count` bad requests (scripts/bench/mixed.py HOSTILE: invalid JSON, an unknown field, a clip
without hands, top_k 0; two over HTTP to one over gRPC Predictions), checks that each is refused with
its 4xx, and reports the bytes every log file grew by per 1,000 of them. With `--roll-size 64KB` the
instance runs with configs/log4j2.xml rolling at that size instead of 20 MB, and the report lists the
files on disk and their total, which must stay under (kept + 1) x roll size per log.

    python -m scripts.bench.log_flood --count 2000                      # its own TorchServe, project logging
    python -m scripts.bench.log_flood --count 20000 --roll-size 64KB    # rolling caps the total
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scripts.bench.loadgen import run_calls
from scripts.bench.mixed import HOSTILE, Route, grpc_hostile, http_hostile
from scripts.bench.soak import log_bytes, per_thousand
from scripts.serve.torchserve_ctl import DEFAULT_STORE, LOG_CONFIG, Ports, TorchServe

SIZE = re.compile(r'size="[^"]+"')


def rolling_config(roll_size: str, directory: Path) -> Path:
    """configs/log4j2.xml with every file rolling at `roll_size` (for example 64KB) instead of 20 MB."""
    path = directory / "log4j2-small.xml"
    path.write_text(SIZE.sub(f'size="{roll_size}"', LOG_CONFIG.read_text(encoding="utf-8")), encoding="utf-8")
    return path


def flood(server: TorchServe, model: str, count: int, clients: int = 4,
          bodies: list[tuple[bytes, int, str]] = HOSTILE) -> dict[str, Any]:
    """`count` bad requests (two HTTP to one gRPC, scripts/bench/mixed.py) from `clients` threads;
    log bytes per 1,000 of them."""
    start = log_bytes(server)
    http = http_hostile(Route.torchserve(server, model), bodies=bodies)
    calls = [http, http, grpc_hostile(server, model, bodies=bodies)]
    report = run_calls(calls, clients, seconds=3600.0, max_requests=count)
    time.sleep(1.0)  # let the last lines reach the disk
    return {"bad_requests": report.requests, "refused_as_expected": report.refused, "statuses": dict(report.statuses),
            "first_failures": report.failures[:5],
            "log_bytes_per_1000_bad_requests": per_thousand(start, log_bytes(server), report.requests)}


def on_disk(server: TorchServe) -> dict[str, Any]:
    """The log files on disk and their total size."""
    files = sorted(path for path in (server.run_dir / "logs").glob("*") if path.is_file())
    return {"files": {path.name: path.stat().st_size for path in files},
            "total_bytes": sum(path.stat().st_size for path in files)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="asl100")
    parser.add_argument("--count", type=int, default=2000, help="bad requests to send (default 2000)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--model-store", type=Path, default=DEFAULT_STORE)
    parser.add_argument("--invalid-json-only", action="store_true", help="send only bodies that are not valid JSON")
    parser.add_argument("--roll-size", default=None, help="roll the logs at this size (e.g. 64KB) instead of 20 MB")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="log-flood-") as scratch:
        config = rolling_config(args.roll_size, Path(scratch)) if args.roll_size else LOG_CONFIG
        server = TorchServe(Path(scratch) / "run", args.model_store, ports=Ports.free(), log_config=config)
        server.start([args.model])
        try:
            result = {"roll_size": args.roll_size, "invalid_json_only": args.invalid_json_only,
                      **flood(server, args.model, args.count, args.clients,
                              HOSTILE[:1] if args.invalid_json_only else HOSTILE)}
            if args.roll_size:
                result["on_disk"] = on_disk(server)
        finally:
            server.stop()
    print(json.dumps(result, indent=2))
    return 0 if result["refused_as_expected"] == result["bad_requests"] else 1


if __name__ == "__main__":
    sys.exit(main())
