"""The benchmark's cells: one path x model x client count, what to call and what it measured.

A call returns the samples it did (1 per request, N for an in-process batch of N); scripts/bench/loadgen.py's
`drive` runs it in closed loop; `Cell.result` turns the latencies into one table row.
"""
from __future__ import annotations

import http.client
import json
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from scripts.bench.loadgen import drive, percentile
from scripts.client import grpc_stubs
from scripts.client.core import auth_metadata
from scripts.serve import inprocess
from scripts.wlasl_data import REPO

CLIENTS = (1, 16)
JSON_PARSE = "in-process JSON parse"
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

    def run(self, seconds: float, warmup: float) -> None:
        latencies, samples, window = drive(self.call, self.threads, seconds, warmup)
        self.latencies += latencies
        self.samples += samples
        self.seconds += window

    def result(self) -> Result:
        return Result(self.path, self.variant, self.clients, self.samples / self.seconds,
                      1e3 * percentile(self.latencies, 50), 1e3 * percentile(self.latencies, 99), len(self.errors),
                      self.rss_mb(), self.startup_s)


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
                 clients_counts: tuple[int, ...] = CLIENTS) -> list[Cell]:
    cells = []
    for clients in clients_counts:
        errors: list[int] = []
        cells.append(Cell(path, variant, clients, make_call(errors), clients, rss_mb, startup_s, errors))
    return cells


def json_parse_cell(body: bytes) -> Cell:
    """json.loads of the request body: the part of the floor that the in-process path pays as well."""
    def call() -> int:
        json.loads(body)
        return 1
    return Cell(JSON_PARSE, "asl100", 1, call, 1)
