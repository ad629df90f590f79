"""The baseline a user might write instead of TorchServe: eager PyTorch behind the standard library's
threading HTTP server, one request per forward pass, no batching. Only the benchmark uses it.

    python -m scripts.bench.minimal_server CHECKPOINT CONFIG_INI NUM_CLASSES --port 8090
"""
from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch

from handlers.errors import InputError
from handlers.payload import Limits, decode_request
from handlers.runtime import EagerRuntime
from handlers.tgcn_config import read_config
from handlers.tgcn_model import load_model


def serve(checkpoint: str, config_path: str, num_classes: int, port: int) -> None:
    """Serve POST /predictions/<anything> on 127.0.0.1:`port` until killed."""
    config = read_config(config_path)
    runtime = EagerRuntime(load_model(checkpoint, config, num_classes))
    limits = Limits(num_samples=config.num_samples, num_classes=num_classes)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                item = decode_request(body, limits)
                probabilities = torch.softmax(runtime(item.windows).mean(dim=0).double(), dim=-1)
                values, indices = torch.topk(probabilities, item.top_k)
                status, answer = 200, {"top_k": [{"index": i, "probability": p}
                                                  for p, i in zip(values.tolist(), indices.tolist())]}
            except InputError as error:
                status, answer = error.status, {"error": str(error)}
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            """Quiet: no line per request."""

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("config")
    parser.add_argument("num_classes", type=int)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    serve(args.checkpoint, args.config, args.num_classes, args.port)


if __name__ == "__main__":
    main()
