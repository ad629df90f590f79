"""The one load driver, percentile and CPU burner that every benchmark and load test uses, and the CPU-share
measurement built on them."""
from __future__ import annotations

import os
import threading
import time

import psutil
import pytest

from scripts.bench.cpu_share import measure
from scripts.bench.loadgen import busy_core, drive, percentile


def test_percentile_interpolates_between_order_statistics() -> None:
    assert percentile([3.0, 1.0, 2.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile(list(range(101)), 99) == pytest.approx(99.0)
    assert percentile([5.0], 99) == 5.0
    assert percentile([1.0, 2.0], 0) == 1.0 and percentile([1.0, 2.0], 100) == 2.0
    assert percentile([], 50) != percentile([], 50)  # NaN: nothing measured


def test_drive_counts_only_the_measured_window_and_stops_on_none() -> None:
    calls = []

    def call() -> int:
        calls.append(time.perf_counter())
        time.sleep(0.01)
        return 2

    latencies, samples, window = drive(call, 2, 0.3, warmup=0.1)
    assert window == 0.3 and samples == 2 * len(latencies) and 0 < len(latencies) < len(calls)
    assert all(0.009 < latency < 0.2 for latency in latencies)
    budget = iter(range(5))
    latencies, samples, _ = drive(lambda: 1 if next(budget, None) is not None else None, 3, 10.0)
    assert samples == 5 and len(latencies) == 5  # ended by the budget, long before 10 s


def test_drive_holds_while_asked() -> None:
    hold = threading.Event()
    hold.set()
    threading.Timer(0.4, hold.clear).start()
    began = time.perf_counter()
    _, samples, window = drive(lambda: (time.sleep(0.01), 1)[1], 1, 0.05, hold=hold)
    assert time.perf_counter() - began >= 0.39 and window >= 0.39 and samples > 10


def test_busy_core_spins_one_cpu_and_is_stopped() -> None:
    with busy_core(30) as process:
        child = psutil.Process(process.pid)
        time.sleep(0.2)
        used = sum(child.cpu_times()[:2])
        time.sleep(1.0)
        # It spins: it takes CPU whenever it is scheduled (a whole one on an idle machine; a share of
        # one on a loaded one), and never sleeps.
        assert sum(child.cpu_times()[:2]) - used > 0.1 and child.status() == psutil.STATUS_RUNNING
    assert process.poll() is not None


def test_cpu_share_counts_the_cpu_of_each_group_per_call() -> None:
    def call() -> int:
        sum(i * i for i in range(20_000))  # a few ms of this process's CPU
        return 1
    report = measure(call, 1, 0.5, {"this process": [os.getpid()]})
    assert report["clips_per_s"] > 0 and report["p50_ms"] > 0
    assert report["cpu_ms_per_clip"]["this process"] > 0.5  # the loop's CPU, per call
    assert 0.2 < report["cpus_busy"]["this process"] <= 1.6  # one thread: about one CPU
