"""TorchServe's gRPC Python stubs, generated from the protos inside the installed frontend jar.

The jar (`ts/frontend/model-server.jar`) carries `proto/inference.proto`, `management.proto` and
`open_inference_grpc.proto`; `google/rpc/status.proto` comes from googleapis-common-protos. The
stubs are written to build/grpc/ (git-ignored) by scripts/setup.sh, and regenerated on first use
whenever the jar changes.

    python -m scripts.client.grpc_stubs            # (re)generate build/grpc/
"""
from __future__ import annotations

import hashlib
import importlib
import shutil
import sys
import zipfile
from pathlib import Path
from types import ModuleType

from scripts.wlasl_data import REPO

STUB_DIR = REPO / "build" / "grpc"
PROTOS = ("inference.proto", "management.proto", "open_inference_grpc.proto")
MODULES = ("inference_pb2", "inference_pb2_grpc", "management_pb2", "management_pb2_grpc",
           "open_inference_grpc_pb2", "open_inference_grpc_pb2_grpc")


class StubError(RuntimeError):
    """The stubs could not be generated."""


def frontend_jar() -> Path:
    """The installed TorchServe frontend jar."""
    import ts
    jar = Path(ts.__file__).resolve().parent / "frontend" / "model-server.jar"
    if not jar.is_file():
        raise StubError(f"{jar} not found: is torchserve installed in this environment (bash scripts/setup.sh)?")
    return jar


def _include_dirs() -> list[Path]:
    """protoc include paths for google/protobuf/*.proto (grpc_tools) and google/rpc/status.proto."""
    import google.rpc
    import grpc_tools
    googleapis = Path(next(iter(google.rpc.__path__))).parent.parent
    if not (googleapis / "google" / "rpc" / "status.proto").is_file():
        raise StubError(f"google/rpc/status.proto not found under {googleapis}: install googleapis-common-protos")
    return [Path(grpc_tools.__file__).resolve().parent / "_proto", googleapis]


def generate(out: Path = STUB_DIR) -> Path:
    """Extract the protos from the jar and compile them into Python modules under `out`."""
    from grpc_tools import protoc
    jar = frontend_jar()
    digest = hashlib.sha256(jar.read_bytes()).hexdigest()
    stamp = out / "jar.sha256"
    if stamp.is_file() and stamp.read_text().strip() == digest and all((out / f"{m}.py").is_file() for m in MODULES):
        return out
    if out.exists():
        shutil.rmtree(out)
    protos = out / "proto"
    protos.mkdir(parents=True)
    with zipfile.ZipFile(jar) as archive:
        for name in PROTOS:
            (protos / name).write_bytes(archive.read(f"proto/{name}"))
    includes = [f"-I{path}" for path in (protos, *_include_dirs())]
    args = ["protoc", *includes, f"--python_out={out}", f"--grpc_python_out={out}", *(str(protos / n) for n in PROTOS)]
    if protoc.main(args) != 0:
        raise StubError(f"protoc failed for {', '.join(PROTOS)} from {jar}")
    stamp.write_text(digest + "\n")
    return out


def load() -> dict[str, ModuleType]:
    """The generated modules by name (generated first if missing or stale)."""
    out = generate()
    if str(out) not in sys.path:
        sys.path.insert(0, str(out))
    return {name: importlib.import_module(name) for name in MODULES}


def main() -> int:
    try:
        out = generate()
    except StubError as exc:
        print(f"grpc stubs: {exc}", file=sys.stderr)
        return 1
    print(f"grpc stubs: {', '.join(MODULES)} in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
