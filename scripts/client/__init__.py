"""Clients of a running tgcn-serve: the library (core, HTTP, gRPC, KServe transports) and the `tgcn-serve` CLI."""
