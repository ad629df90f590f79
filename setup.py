"""Build step of the package: compile the vendored TorchServe protos into the client's gRPC stubs.

Everything else is declared in pyproject.toml. The stubs land in scripts/client/_stubs/ of the built
package (scripts.client.grpc_stubs.load() finds them there), so an installed client needs neither
the TorchServe jar nor grpcio-tools.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithStubs(build_py):
    def run(self) -> None:
        super().run()
        # Loaded by path: importing the scripts.client package would need its runtime dependencies here.
        source = Path(__file__).resolve().parent / "scripts" / "client" / "grpc_stubs.py"
        spec = importlib.util.spec_from_file_location("grpc_stubs", source)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.generate(Path(self.build_lib) / "scripts" / "client" / "_stubs")


setup(cmdclass={"build_py": BuildWithStubs})
