"""Measuring: the benchmark, load generation, soak, capacity, transports, batching sweeps, floor handler, minimal server."""
