"""TorchServe's gRPC Python stubs, generated from the vendored TorchServe 0.12.0 protos.

`scripts/client/protos/` holds `inference.proto`, `management.proto` and `open_inference_grpc.proto`
exactly as the TorchServe 0.12.0 jar carries them (see protos/NOTICE.md); `google/rpc/status.proto`
comes from googleapis-common-protos. An installed package (`pip install '.[client]'`) carries the
stubs generated at build time in `scripts/client/_stubs/`; a checkout generates them into
build/grpc/ (git-ignored) with grpcio-tools, regenerating whenever the protos change.

    python -m scripts.client.grpc_stubs            # (re)generate build/grpc/
"""
from __future__ import annotations

import hashlib
import importlib
import shutil
import sys
from pathlib import Path
from types import ModuleType

PROTO_DIR = Path(__file__).resolve().parent / "protos"
PACKAGED_STUBS = Path(__file__).resolve().parent / "_stubs"  # written by setup.py's build step
CHECKOUT_STUBS = Path(__file__).resolve().parents[2] / "build" / "grpc"
PROTOS = ("inference.proto", "management.proto", "open_inference_grpc.proto")
MODULES = ("inference_pb2", "inference_pb2_grpc", "management_pb2", "management_pb2_grpc",
           "open_inference_grpc_pb2", "open_inference_grpc_pb2_grpc")


class StubError(RuntimeError):
    """The stubs could not be generated."""


def protos_digest() -> str:
    """sha256 over the vendored protos, the stamp that says whether generated stubs are current."""
    digest = hashlib.sha256()
    for name in PROTOS:
        digest.update((PROTO_DIR / name).read_bytes())
    return digest.hexdigest()


def _include_dirs() -> list[Path]:
    """protoc include paths for google/protobuf/*.proto (grpc_tools) and google/rpc/status.proto."""
    import google.rpc
    import grpc_tools
    googleapis = Path(next(iter(google.rpc.__path__))).parent.parent
    if not (googleapis / "google" / "rpc" / "status.proto").is_file():
        raise StubError(f"google/rpc/status.proto not found under {googleapis}: install googleapis-common-protos")
    return [Path(grpc_tools.__file__).resolve().parent / "_proto", googleapis]


def current(out: Path) -> bool:
    """Whether `out` holds every stub module, generated from the protos as they are now."""
    stamp = out / "protos.sha256"
    return (stamp.is_file() and stamp.read_text().strip() == protos_digest()
            and all((out / f"{module}.py").is_file() for module in MODULES))


def generate(out: Path = CHECKOUT_STUBS) -> Path:
    """Compile the vendored protos into Python modules under `out` (needs grpcio-tools)."""
    if current(out):
        return out
    try:
        from grpc_tools import protoc
    except ImportError:
        raise StubError("generating the gRPC stubs needs grpcio-tools (installed packages carry them built)") from None
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    includes = [f"-I{path}" for path in (PROTO_DIR, *_include_dirs())]
    args = ["protoc", *includes, f"--python_out={out}", f"--grpc_python_out={out}", *(str(PROTO_DIR / n) for n in PROTOS)]
    if protoc.main(args) != 0:
        raise StubError(f"protoc failed for {', '.join(PROTOS)} in {PROTO_DIR}")
    (out / "protos.sha256").write_text(protos_digest() + "\n")
    return out


def load() -> dict[str, ModuleType]:
    """The generated modules by name: the packaged ones, else the checkout's (generated first if stale)."""
    out = PACKAGED_STUBS if current(PACKAGED_STUBS) else generate()
    if str(out) not in sys.path:  # the generated *_grpc modules import their *_pb2 siblings by plain name
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
