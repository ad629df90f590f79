"""Archives derived from a built one: the same files under another model name, with some settings of
its model-config.yaml changed (frontend keys such as batchSize or deviceType, handler keys as
handler.x). Used by the A/B benchmark (scripts/bench/ab.py) and the served GPU check. The checkpoint
and model.onnx are copied unchanged, so their recorded sha256s still hold.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import yaml


def derive_archive(source: Path, store: Path, name: str, settings: dict[str, object]) -> str:
    """Copy `source` into `store` as model `name`, with `settings` (dotted keys: handler.x) applied to its
    model-config.yaml; returns the archive's file name."""
    target = store / f"{name}.mar"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as copy:
        manifest = json.loads(original.read("MAR-INF/MANIFEST.json"))
        manifest["model"]["modelName"] = name
        config_name = manifest["model"]["configFile"]
        config = yaml.safe_load(original.read(config_name))
        for key, value in settings.items():
            section = config
            *parents, leaf = key.split(".")
            for parent in parents:
                section = section.setdefault(parent, {})
            section[leaf] = value
        for item in original.infolist():
            if item.filename == "MAR-INF/MANIFEST.json":
                copy.writestr(item, json.dumps(manifest))
            elif item.filename == config_name:
                copy.writestr(item, yaml.safe_dump(config, sort_keys=False))
            else:
                copy.writestr(item, original.read(item))
    return target.name
