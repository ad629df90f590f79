"""TorchServe's gRPC inference stubs, generated on demand from the installed jar (never committed).

The protos ship only inside `ts/frontend/model-server.jar`; `inference.proto` imports
`google/rpc/status.proto` and `google/protobuf/empty.proto`, found in googleapis-common-protos and
grpcio-tools. The generated modules go to build/grpc_stubs/ (git-ignored).
"""
from __future__ import annotations

import importlib
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import grpc
import ts

from scripts.wlasl_data import REPO

STUB_DIR = REPO / "build" / "grpc_stubs"
JAR = Path(ts.__file__).parent / "frontend" / "model-server.jar"


def inference_modules() -> tuple[ModuleType, ModuleType]:
    """(inference_pb2, inference_pb2_grpc), generated into STUB_DIR on first use."""
    if not (STUB_DIR / "inference_pb2_grpc.py").is_file():
        import google.rpc
        from grpc_tools import protoc

        STUB_DIR.mkdir(parents=True, exist_ok=True)
        (STUB_DIR / "inference.proto").write_bytes(zipfile.ZipFile(JAR).read("proto/inference.proto"))
        includes = [STUB_DIR, Path(google.rpc.__path__[0]).parent.parent,
                    Path(protoc.__file__).parent / "_proto"]
        code = protoc.main(["protoc", *(f"-I{path}" for path in includes), f"--python_out={STUB_DIR}",
                            f"--grpc_python_out={STUB_DIR}", str(STUB_DIR / "inference.proto")])
        if code != 0:
            raise RuntimeError(f"grpc_tools.protoc failed ({code}) generating stubs from {JAR}")
    if str(STUB_DIR) not in sys.path:
        sys.path.insert(0, str(STUB_DIR))
    return importlib.import_module("inference_pb2"), importlib.import_module("inference_pb2_grpc")


class GrpcClient:
    """A blocking Predictions client for one TorchServe gRPC inference port."""

    def __init__(self, port: int, token: str) -> None:
        self.messages, services = inference_modules()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = services.InferenceAPIsServiceStub(self.channel)
        self.metadata = (("authorization", f"Bearer {token}"),)

    def predict(self, model: str, body: bytes, timeout: float = 30.0) -> bytes:
        """The prediction bytes for one JSON request body."""
        request = self.messages.PredictionsRequest(model_name=model, input={"data": body})
        return self.stub.Predictions(request, metadata=self.metadata, timeout=timeout).prediction

    def close(self) -> None:
        self.channel.close()
