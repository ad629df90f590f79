"""Clients of a running tgcn-serve: the library and the `tgcn-serve` CLI.

    from scripts.client import Endpoint, connect, load_input
    client = connect(Endpoint.from_config(), "grpc")        # or "http"
    answer = client.predict("asl100", load_input(Path("../shared/data/wlasl/pose/32162")))

Imports run one way: core (Endpoint, tokens, bodies, errors) -> transports (http_client, grpc_client,
kserve_client) -> this package's connect() -> cli. Both transports have the same methods and raise
ClientError with a message that says what went wrong (missing or expired token, unknown model or
version, bad input, server down). Versioning is in scripts/serve/lifecycle.py.
"""
from __future__ import annotations

from scripts.client.core import Client, ClientError, Endpoint, load_input
from scripts.client.http_client import HttpClient

__all__ = ["Client", "ClientError", "Endpoint", "HttpClient", "connect", "load_input"]


def connect(endpoint: Endpoint, transport: str = "http", timeout: float = 60.0) -> Client:
    """A client for `transport` "http" or "grpc"."""
    if transport == "http":
        return HttpClient(endpoint, timeout)
    if transport == "grpc":
        from scripts.client.grpc_client import GrpcClient  # grpc only when asked for
        return GrpcClient(endpoint, timeout)
    raise ClientError(f"unknown transport {transport!r}: use http or grpc")
