"""Pack model_store/ into the storage layout of KServe's TorchServe runtime (also used by deployment.yaml):

    <out>/config/config.properties   config.properties + configs/k8s/cluster.properties + model_snapshot
    <out>/config/metrics.yaml        configs/metrics.yaml
    <out>/model-store/<variant>.mar

    python -m scripts.archive.kserve_pack --out build/kserve [--models asl100 asl300]
Upload <out> to the InferenceService's storageUri (or the deployment's volume) as it is.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import zipfile
from pathlib import Path
from typing import Any

import yaml

from scripts.serve.torchserve_ctl import DEFAULT_STORE
from scripts.client.core import BASE_CONFIG, read_properties
from scripts.wlasl_data import REPO

CLUSTER_CONFIG = REPO / "configs" / "k8s" / "cluster.properties"
METRICS_CONFIG = REPO / "configs" / "metrics.yaml"
SNAPSHOT_KEYS = ("minWorkers", "maxWorkers", "batchSize", "maxBatchDelay", "responseTimeout")


class PackError(RuntimeError):
    """The layout cannot be packed; the message says why."""


def archive_entry(mar: Path) -> dict[str, Any]:
    """A model_snapshot entry for one archive, from its manifest and its model-config.yaml."""
    with zipfile.ZipFile(mar) as archive:
        manifest = json.loads(archive.read("MAR-INF/MANIFEST.json"))
        config_file = manifest["model"].get("configFile")
        model_config = yaml.safe_load(archive.read(config_file)) if config_file else {}
    entry = {"defaultVersion": True, "marName": mar.name}
    entry.update({key: model_config[key] for key in SNAPSHOT_KEYS if key in model_config})
    return {manifest["model"]["modelName"]: {manifest["model"]["modelVersion"]: entry}}


def model_snapshot(mars: list[Path]) -> str:
    """TorchServe's model_snapshot property: the models to load at start, with their worker settings."""
    models: dict[str, Any] = {}
    for mar in mars:
        models.update(archive_entry(mar))
    return json.dumps({"name": "startup.cfg", "modelCount": len(models), "models": models}, separators=(",", ":"))


def pack(model_store: Path, out: Path, models: list[str] | None = None) -> Path:
    """Write the layout under `out` (replacing it) and return its config.properties."""
    mars = [model_store / f"{name}.mar" for name in models] if models else sorted(model_store.glob("*.mar"))
    missing = [str(mar) for mar in mars if not mar.is_file()]
    if missing or not mars:
        raise PackError(f"no archive(s) to pack: {', '.join(missing) or model_store}; build them first (make archives)")
    if out.exists():
        shutil.rmtree(out)
    (out / "config").mkdir(parents=True)
    (out / "model-store").mkdir()
    for mar in mars:
        shutil.copy2(mar, out / "model-store" / mar.name)
    shutil.copy2(METRICS_CONFIG, out / "config" / "metrics.yaml")
    properties = {**read_properties(BASE_CONFIG), **read_properties(CLUSTER_CONFIG),
                  "model_snapshot": model_snapshot(mars)}
    config = out / "config" / "config.properties"
    config.write_text("# Written by scripts/archive/kserve_pack.py from config.properties and configs/k8s/cluster.properties.\n"
                      + "".join(f"{key}={value}\n" for key, value in properties.items()), encoding="utf-8")
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-store", type=Path, default=DEFAULT_STORE)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "kserve")
    parser.add_argument("--models", nargs="+", help="archive names (default: every .mar in the store)")
    args = parser.parse_args(argv)
    try:
        config = pack(args.model_store, args.out, args.models)
    except PackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in sorted(p for p in args.out.rglob("*") if p.is_file()):
        print(path.relative_to(args.out))
    print(f"packed {args.out} (config {config.relative_to(args.out)}); upload it to the storageUri as it is")
    return 0


if __name__ == "__main__":
    sys.exit(main())
