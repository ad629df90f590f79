"""The benchmark's cells: one path x model x client count, what to call and what it measured.

A call returns the samples it did (1 per request, N for an in-process batch of N); scripts/bench/loadgen.py's
`drive` runs it in closed loop (under `busy_core` for the contention scenario); `Cell.result` turns the
latencies into one table row.
"""
from __future__ import annotations

import http.client
import json
import shutil
import threading
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
import torch

from handlers.payload import Limits, decode_request
from handlers.runtime import ONNX_FILE, OnnxRuntime
from handlers.tgcn_config import read_config
from scripts.bench.loadgen import busy_core, drive, percentile
from scripts.client import grpc_stubs
from scripts.client.core import auth_metadata
from scripts.serve import inprocess
from scripts.wlasl_data import REPO

CLIENTS = (1, 16)
JSON_PARSE = "in-process JSON parse"
FASTEST = "in-process fastest"
FASTEST_BATCHES = (1, 4, 8, 16, 32)  # clips per call tried for the fastest path
IDLE, BUSY = "idle", "1 core busy"
WORK = REPO / "build" / "bench"


@dataclass
class Result:
    """One cell of the table."""

    path: str
    variant: str
    clients: int
    samples_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int = 0
    rss_mb: float | None = None
    startup_s: float | None = None
    load: str = IDLE


@dataclass
class Cell:
    """One path x model x client count: what to call, and what its rounds measured so far."""

    path: str
    variant: str
    clients: int
    call: Callable[[], int]  # one request, or one in-process batch; returns the samples it did
    threads: int  # client threads driving `call` (in-process: 1, it batches instead)
    rss_mb: Callable[[], float | None] = lambda: None
    startup_s: float | None = None
    errors: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    samples: int = 0
    seconds: float = 0.0
    load: str = IDLE  # BUSY: measured while busy_core keeps one CPU busy

    def run(self, seconds: float, warmup: float) -> None:
        with busy_core(seconds + warmup + 10) if self.load == BUSY else nullcontext():
            latencies, samples, window = drive(self.call, self.threads, seconds, warmup)
        self.latencies += latencies
        self.samples += samples
        self.seconds += window

    def result(self) -> Result:
        return Result(self.path, self.variant, self.clients, self.samples / self.seconds,
                      1e3 * percentile(self.latencies, 50), 1e3 * percentile(self.latencies, 99), len(self.errors),
                      self.rss_mb(), self.startup_s, self.load)




def in_process_cells(path: str, mar: Path, body: bytes, threads: int) -> list[Cell]:
    """The handler's own preprocess -> inference -> postprocess, no transport; N clients = a batch of N."""
    workdir = WORK / "unpacked" / f"{path}-{mar.stem}"
    shutil.rmtree(workdir, ignore_errors=True)
    handler = inprocess.open_handler(mar, workdir, batch_size=16, handler_settings={"intra_op_threads": threads})
    cells = []
    for clients in CLIENTS:
        rows = [{"body": bytearray(body)} for _ in range(clients)]

        def call(rows: list[dict] = rows) -> int:
            handler.postprocess(handler.inference(handler.preprocess(rows)))
            return len(rows)
        cells.append(Cell(path, mar.stem, clients, call, 1))
    return cells


def http_caller(url: str, model: str, body: bytes, headers: dict[str, str], errors: list[int]) -> Callable[[], int]:
    """A per-thread keep-alive HTTP POST; counts non-200 answers in `errors`."""
    host, port = url.removeprefix("http://").split(":")
    local = threading.local()

    def call() -> int:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection(host, int(port), timeout=30)
        local.connection.request("POST", f"/predictions/{model}", body, headers)
        response = local.connection.getresponse()
        response.read()
        if response.status != 200:
            errors.append(response.status)
        return 1
    return call


class RawGrpcClient:
    """Predictions over gRPC with a pre-encoded JSON body (no per-call encoding, as for the HTTP cells)."""

    def __init__(self, port: int, token: str) -> None:
        stubs = grpc_stubs.load()
        self.messages = stubs["inference_pb2"]
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = stubs["inference_pb2_grpc"].InferenceAPIsServiceStub(self.channel)
        self.metadata = auth_metadata(token)

    def predict(self, model: str, body: bytes, timeout: float = 30.0) -> bytes:
        """The prediction bytes for one JSON request body."""
        request = self.messages.PredictionsRequest(model_name=model, input={"data": body})
        return self.stub.Predictions(request, metadata=self.metadata, timeout=timeout).prediction

    def close(self) -> None:
        self.channel.close()


def grpc_caller(client: RawGrpcClient, model: str, body: bytes, errors: list[int]) -> Callable[[], int]:
    """A blocking gRPC Predictions call; counts failed RPCs in `errors`."""
    def call() -> int:
        try:
            client.predict(model, body)
        except grpc.RpcError:
            errors.append(1)
        return 1
    return call


def client_cells(path: str, variant: str, make_call: Callable[[list[int]], Callable[[], int]],
                 rss_mb: Callable[[], float | None], startup_s: float | None,
                 clients_counts: tuple[int, ...] = CLIENTS, load: str = IDLE) -> list[Cell]:
    """Cells of `clients_counts` client threads each, every cell with its own call and error count."""
    cells = []
    for clients in clients_counts:
        errors: list[int] = []
        cells.append(Cell(path, variant, clients, make_call(errors), clients, rss_mb, startup_s, errors, load=load))
    return cells


def json_parse_cell(body: bytes) -> Cell:
    """json.loads of the request body: the part of the floor that the in-process path pays as well."""
    def call() -> int:
        json.loads(body)
        return 1
    return Cell(JSON_PARSE, "asl100", 1, call, 1)


def fastest_call(runtime: OnnxRuntime, limits: Limits, bodies: list[bytes]) -> Callable[[], int]:
    """What a server must do at the least for these request bodies: parse, window, one session run,
    average each clip's window logits."""
    def call() -> int:
        windows = [decode_request(json.loads(body), limits).windows for body in bodies]
        logits = runtime(np.concatenate(windows))
        per_clip = [chunk.mean(dim=0) for chunk in torch.split(logits, [len(w) for w in windows])]
        return len(per_clip)
    return call


def fastest_calls(mar: Path, body: bytes, threads: int) -> dict[tuple[int, bool], Callable[[], int]]:
    """The archive's model.onnx in an ONNX Runtime session with `threads`, spinning on and off: a fastest_call
    for each (clips per call in FASTEST_BATCHES, spinning)."""
    workdir = WORK / "unpacked" / f"fastest-{mar.stem}"
    shutil.rmtree(workdir, ignore_errors=True)
    context = inprocess.archive_context(mar, workdir)
    settings = context.model_yaml_config["handler"]
    limits = Limits.from_settings(settings, read_config(workdir / "config.ini").num_samples, int(settings["num_classes"]))
    runtimes = {spin: OnnxRuntime(workdir / ONNX_FILE, threads, spinning=spin) for spin in (True, False)}
    return {(batch, spin): fastest_call(runtime, limits, [body] * batch)
            for batch in FASTEST_BATCHES for spin, runtime in runtimes.items()}


def fastest_cells(mar: Path, body: bytes, threads: int) -> tuple[list[Cell], str]:
    """The fastest in-process path: the archive's own model.onnx in one ONNX Runtime session with `threads`,
    intra-op spinning on or off, at 1 clip per call (the lone-client row) and at the batch size that serves
    the most clips per second (the row of 16 clients). Each combination is tried for about a second idle
    and again with one core busy, and each load's rows use its own fastest; returns the cells and the choices."""
    calls = fastest_calls(mar, body, threads)
    cells, chosen = [], []
    spinning = {True: "spinning", False: "no spinning"}
    for load in (IDLE, BUSY):
        with busy_core(60) if load == BUSY else nullcontext():
            rates = {key: rate(call) for key, call in calls.items()}
        lone = max((key for key in rates if key[0] == 1), key=rates.__getitem__)
        best = max(rates, key=rates.__getitem__)
        cells += [Cell(FASTEST, mar.stem, clients, calls[lone if clients == 1 else best], 1, load=load)
                  for clients in CLIENTS]
        chosen.append(f"{load}: {spinning[lone[1]]} for 1 clip, {best[0]} clips per call with {spinning[best[1]]}")
    return cells, "; ".join(chosen)


def rate(call: Callable[[], int]) -> float:
    """Samples per second of `call` in closed loop for about a second."""
    _, samples, window = drive(call, 1, 1.0, 0.2)
    return samples / window
