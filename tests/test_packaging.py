"""The layout and the package: imports run one way, the client installs alone and talks to a live server."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from scripts.client import grpc_stubs
from scripts.serve.torchserve_ctl import TorchServe
from scripts.wlasl_data import REPO
from tests.conftest import CLIP

PACKAGES = ("handlers", "scripts")
# The client's own modules and what each may import from the project at module level.
CLIENT_LAYERS = {
    "scripts.client.core": set(),
    "scripts.client.grpc_stubs": set(),
    "scripts.client.http_client": {"scripts.client.core"},
    "scripts.client.grpc_client": {"scripts.client.core", "scripts.client.grpc_stubs"},
    "scripts.client.kserve_client": {"scripts.client.core", "scripts.client.grpc_stubs", "scripts.client.grpc_client"},
    "scripts.client": {"scripts.client.core", "scripts.client.http_client"},
}
MAX_MODULE_LINES = 330  # "about 300"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(path): path for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))
            if "_stubs" not in path.parts}


def top_level_imports(path: Path, known: set[str]) -> set[str]:
    """The project modules `path` imports when it is imported (module level, not inside functions)."""
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = [f"{node.module}.{alias.name}" for alias in node.names]
            # `from package import submodule` depends on the submodule; names defined by the package on it
            names = submodules + ([node.module] if not all(name in known for name in submodules) else [])
        else:
            continue
        found |= {name for name in names if name in known}
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: top_level_imports(path, set(modules)) - {name} for name, path in modules.items()}


def test_imports_have_no_cycles() -> None:
    graph = import_graph()
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(target):] + [node, target])
                                     if target in trail else f"import cycle through {node} -> {target}")
            if target not in state:
                visit(target, trail + [node])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


def test_imports_run_one_way() -> None:
    graph = import_graph()
    for module, targets in graph.items():
        if module.startswith("handlers"):  # the archive's code: it ships without scripts/
            assert not {t for t in targets if t.startswith("scripts")}, f"{module} imports scripts: {targets}"
    for module, allowed in CLIENT_LAYERS.items():
        assert graph[module] <= allowed, f"{module} imports {sorted(graph[module] - allowed)}"
    assert not any(target.startswith("scripts.client.cli") for module, targets in graph.items() for target in targets
                   if module != "scripts.client.predict")


def test_modules_stay_small() -> None:
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in project_modules().items()}
    assert not {name: size for name, size in sizes.items() if size > MAX_MODULE_LINES}


def test_vendored_protos_are_torchservers_own() -> None:
    import ts

    jar = Path(ts.__file__).resolve().parent / "frontend" / "model-server.jar"
    with zipfile.ZipFile(jar) as archive:
        for name in grpc_stubs.PROTOS:
            assert (grpc_stubs.PROTO_DIR / name).read_bytes() == archive.read(f"proto/{name}"), name


@pytest.mark.slow
def test_client_installs_alone_and_predicts_over_http_and_grpc(server: TorchServe, tmp_path: Path) -> None:
    """pip install '.[client]' into a fresh venv: no torch, no TorchServe, and the same answers as the repo's client."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", f"{REPO}[client]"],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-2000:]
    installed = subprocess.run([str(python), "-c", "import importlib.util as u; print([m for m in "
                                "('torch', 'ts', 'grpc_tools', 'onnxruntime', 'grpc', 'requests') if u.find_spec(m)])"],
                               capture_output=True, text=True, check=True, cwd=tmp_path)
    assert installed.stdout.strip() == "['grpc', 'requests']"
    config = tmp_path / "config.properties"
    config.write_text("".join(f"{key}={value}\n" for key, value in server.properties.items()))
    expected = server.endpoint()
    from scripts.client import connect, load_input

    wanted = connect(expected, "http").predict("asl100", {**load_input(CLIP), "top_k": 5})
    for transport in ("http", "grpc"):
        done = subprocess.run([str(venv / "bin" / "tgcn-serve"), "predict", str(CLIP), "--transport", transport,
                               "--config", str(config), "--key-file", str(server.key_file), "--json"],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        assert answer["top_k"][0]["gloss"] == "language"
        assert [e["index"] for e in answer["top_k"]] == [e["index"] for e in wanted["top_k"]]
        for got, want in zip(answer["top_k"], wanted["top_k"]):
            assert got["probability"] == pytest.approx(want["probability"], abs=1e-6)
