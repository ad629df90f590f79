"""Load generation for every benchmark and load test: one closed-loop driver (`drive`), one
percentile function, `run_calls`, concurrent checked calls of any kind (HTTP, gRPC, valid or hostile:
scripts/bench/mixed.py builds them) against a live TorchServe, and `run_load`, the same for one HTTP body.

`drive` runs the benchmark's and the batching sweep's cells; `run_calls`/`run_load` (built on it) serve the
soak, the overload run, the capacity measurement and the fault tests (worker SIGKILL, set-default under load). A client
call ends with a checked answer, a retried-then-answered call, or a counted failure; none can hang
past its timeout. TorchServe answers 503 while a model has no worker, and 500 or 507 "Worker died."
to the requests a killed worker held: such a call is retried after a short pause (inference is
idempotent) and counted as retried.
"""
from __future__ import annotations

import math
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import psutil
import requests


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between order statistics; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def drive(call: Callable[[], int | None], clients: int, seconds: float, warmup: float = 0.0,
          hold: threading.Event | None = None) -> tuple[list[float], int, float]:
    """Run `call` in `clients` threads, closed loop, for `warmup` + `seconds`, and on while `hold` is set.

    A call returns the samples it did, or None when its thread should stop (a request budget spent).
    Returns the latencies (s) and samples of the calls that ended after the warm-up (without `hold`:
    inside the window), and the measured window's length in seconds."""
    start = time.perf_counter() + warmup
    stop = start + seconds
    latencies: list[float] = []
    samples = [0]
    lock = threading.Lock()

    def loop() -> None:
        while True:
            began = time.perf_counter()
            if began >= stop and not (hold is not None and hold.is_set()):
                return
            done = call()
            if done is None:
                return
            ended = time.perf_counter()
            if start <= ended and (ended <= stop or hold is not None):
                with lock:
                    latencies.append(ended - began)
                    samples[0] += done

    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, samples[0], seconds if hold is None else max(time.perf_counter() - start, 1e-9)


@contextmanager
def busy_core(seconds: float) -> Iterator[subprocess.Popen]:
    """One CPU kept busy by a child process that spins for at most `seconds` (killed on exit): the
    contention scenario, a neighbour on the machine."""
    spin = f"import time\nend = time.monotonic() + {float(seconds)}\nwhile time.monotonic() < end:\n    pass\n"
    process = subprocess.Popen([sys.executable, "-c", spin])
    try:
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


def retriable(response: requests.Response) -> bool:
    """TorchServe's answers that mean "no worker had it; send it again"."""
    return response.status_code == 503 or (response.status_code in (500, 507) and "Worker died" in response.text)


@dataclass
class LoadReport:
    """What a load run saw. `lost` counts calls that ended without a correct answer."""

    requests: int = 0
    correct: int = 0
    refused: int = 0
    retried: int = 0
    lost: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    timeline: list[tuple[float, float, str]] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        """Latency percentile in milliseconds (0 when nothing was measured)."""
        return 1000 * percentile(self.latencies, q) if self.latencies else 0.0

    def summary(self) -> dict[str, Any]:
        """The figures as a JSON-ready dict."""
        return {"requests": self.requests, "correct": self.correct, "refused": self.refused, "errors": self.lost,
                "retried": self.retried,
                "statuses": dict(self.statuses), "seconds": round(self.seconds, 1),
                "requests_per_s": round(self.requests / self.seconds, 1) if self.seconds else 0.0,
                "p50_ms": round(self.percentile(50), 1), "p99_ms": round(self.percentile(99), 1),
                "first_failures": self.failures[:5]}


def answer_is(check: Callable[[requests.Response], bool], response: requests.Response) -> bool:
    """`check(response)`, with an unreadable answer counted as a wrong one."""
    try:
        return bool(check(response))
    except (ValueError, KeyError, IndexError, TypeError):
        return False


def call(session: requests.Session, url: str, body: bytes, headers: dict[str, str],
         check: Callable[[requests.Response], bool], timeout: float, retries: int) -> tuple[str, int]:
    """One client call with retries on retriable answers; -> (outcome, attempts) with outcome
    'correct' or a failure description."""
    for attempt in range(1, retries + 2):
        try:
            response = session.post(url, data=body, headers=headers, timeout=timeout)
        except requests.ConnectionError as exc:
            outcome, again = f"connection error: {exc}", True
        except requests.Timeout:
            return f"no answer within {timeout} s", attempt
        else:
            if response.status_code == 200 and answer_is(check, response):
                return "correct", attempt
            outcome = f"{response.status_code}: {response.text[:200]}"
            again = retriable(response)
        if not again or attempt > retries:
            return outcome, attempt
        time.sleep(min(0.1 * 2 ** attempt, 2.0))
    raise AssertionError("unreachable")


Call = Callable[[], "tuple[str, int]"]  # one client call -> (outcome, attempts); outcome 'correct' or 'refused ...'


def http_call(url: str, body: bytes, headers: dict[str, str], check: Callable[[requests.Response], bool],
              timeout: float = 30.0, retries: int = 5) -> Call:
    """A Call that POSTs `body` to `url` from a per-thread session and checks the answer (see `call`)."""
    local = threading.local()
    headers = {"Content-Type": "application/json", **headers}

    def send() -> tuple[str, int]:
        return call(thread_session(local), url, body, headers, check, timeout, retries)
    return send


def thread_session(local: threading.local) -> requests.Session:
    """The calling thread's keep-alive session, kept in `local` (one per client thread)."""
    local.session = getattr(local, "session", None) or requests.Session()
    return local.session


def outcome_key(outcome: str) -> str:
    """'correct', 'refused <status>' (an expected refusal), or the status that ended a failed call."""
    return outcome if outcome == "correct" else outcome.split(":", 1)[0]


def run_calls(calls: Sequence[Call], clients: int = 32, seconds: float = 10.0, max_requests: int | None = None,
              during: Callable[[], None] | None = None) -> LoadReport:
    """`clients` threads make the `calls` in turn (call n is calls[n % len(calls)]) until `seconds` pass
    or `max_requests` were made. A call's outcome is 'correct', 'refused <why>' (a refusal the call
    expected: a hostile request's 4xx, an overload refusal) or a failure.

    `during`, if given, runs in the caller's thread while the load is on (to inject a fault); the
    load goes on until both it and the time budget are done. The report keeps every call's
    (end time, latency, outcome key) in `timeline`.
    """
    report = LoadReport()
    lock = threading.Lock()
    hold = threading.Event() if during is not None else None
    began_at = time.perf_counter()

    def one() -> int | None:
        with lock:
            if max_requests is not None and report.requests >= max_requests:
                return None
            number = report.requests
            report.requests += 1
        began = time.perf_counter()
        outcome, attempts = calls[number % len(calls)]()
        ended = time.perf_counter()
        with lock:
            report.retried += attempts > 1
            key = outcome_key(outcome)
            report.statuses[key] += 1
            report.timeline.append((ended - began_at, ended - began, key))
            if outcome == "correct":
                report.correct += 1
            elif outcome.startswith("refused "):
                report.refused += 1
            else:
                report.lost += 1
                report.failures.append(outcome)
        return 1

    if hold is not None:
        hold.set()
    with ThreadPoolExecutor(1) as pool:
        driving = pool.submit(drive, one, clients, seconds, 0.0, hold)
        if during is not None:
            try:
                during()
            finally:
                hold.clear()
        report.latencies, _, report.seconds = driving.result()
    return report


def run_load(url: str, body: bytes, headers: dict[str, str], check: Callable[[requests.Response], bool],
             clients: int = 32, seconds: float = 10.0, max_requests: int | None = None,
             timeout: float = 30.0, retries: int = 5,
             during: Callable[[], None] | None = None) -> LoadReport:
    """`clients` threads POST `body` to `url` until `seconds` pass or `max_requests` were sent (run_calls)."""
    return run_calls([http_call(url, body, headers, check, timeout, retries)], clients, seconds, max_requests, during)


def model_workers(management_url: str, headers: dict[str, str], model: str, version: str | None = None,
                  timeout: float = 10.0) -> list[dict[str, Any]]:
    """The workers of a model version (default version when None), as the management API lists them."""
    target = f"{management_url}/models/{model}" + (f"/{version}" if version else "")
    response = requests.get(target, headers=headers, timeout=timeout)
    response.raise_for_status()
    return [worker for entry in response.json() for worker in entry.get("workers", [])]


def worker_pids(management_url: str, headers: dict[str, str], model: str, version: str | None = None) -> list[int]:
    """PIDs of the model's READY workers."""
    return [int(worker["pid"]) for worker in model_workers(management_url, headers, model, version)
            if worker.get("status") == "READY" and worker.get("pid")]


def rss_mib(pids: list[int]) -> float:
    """Resident memory of these processes together, in MiB."""
    return sum(psutil.Process(pid).memory_info().rss for pid in pids) / 2**20


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds these processes have used so far (every thread of each)."""
    return sum(times.user + times.system for times in (psutil.Process(pid).cpu_times() for pid in pids))


def frontend_pids(launcher: int | None) -> list[int]:
    """The Java frontend of a TorchServe instance: the java processes among the launcher (torchserve_ctl's
    `server.pid()`) and its descendants."""
    if launcher is None:
        return []
    family = [psutil.Process(launcher), *psutil.Process(launcher).children(recursive=True)]
    return [process.pid for process in family if "java" in process.name()]
