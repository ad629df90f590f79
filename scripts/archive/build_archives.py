"""Build model_store/<variant>.mar for every variant whose weights are found.

Each archive holds the checkpoint, its config.ini (checked against the checkpoint's shapes),
glosses.txt (derived from WLASL_v0.3.json), the handler package and a model-config.yaml that
records the checkpoint's sha256 for the worker to verify. For an ONNX Runtime archive
(`handler.runtime` in configs/aslN.yaml, or --runtime) it also holds model.onnx and its sha256,
packaged only after its logits matched eager PyTorch within 1e-4 (scripts/archive/export_onnx.py).

    python -m scripts.archive.build_archives [--variants asl100 asl300] [--version 1.0] [--runtime eager]
    python -m scripts.archive.build_archives --video --variants asl100    # model_store/asl100_video.mar
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from handlers.framing import STATS_FILE
from handlers.labels import glosses_from_wlasl, variant_classes, write_glosses
from handlers.runtime import ONNX_FILE, RUNTIMES, runtime_name
from handlers.tgcn_config import ConfigError, read_config
from handlers.tgcn_model import CheckpointError, build_model, check_shapes, read_state_dict, sha256_file
from scripts.archive.export_onnx import ParityError, build_onnx
from scripts.wlasl_data import REPO, VARIANTS, Weights, data_root, find_weights


HANDLER = REPO / "handlers" / "tgcn_handler.py"
VIDEO_HANDLER = REPO / "handlers" / "tgcn_video_handler.py"
VIDEO_CONFIG = REPO / "configs" / "video.yaml"
FRAMING_STATS = REPO / "configs" / STATS_FILE


class BuildError(RuntimeError):
    """A variant whose archive cannot be built; the message says why."""


def stage(variant: str, weights: Weights, data: Path, staging: Path, handler: Path = HANDLER,
          overlay: Path | None = None, runtime: str | None = None, settings_override: dict | None = None) -> Path:
    """Check the weights against the config and write the archive's extra files; returns the model config."""
    config_path = weights.config or REPO / "configs" / f"{variant}.ini"
    num_classes = variant_classes(variant)
    try:
        config = read_config(config_path)
        state = read_state_dict(weights.checkpoint)
        model = build_model(config, num_classes)
        check_shapes(state, model, f"{weights.checkpoint} with {config_path}")
    except (ConfigError, CheckpointError) as exc:
        raise BuildError(str(exc)) from exc
    if staging.exists():
        shutil.rmtree(staging)
    extra = staging / "extra"
    package = extra / "handlers"
    package.mkdir(parents=True)
    for module in sorted((REPO / "handlers").glob("*.py")):  # the entry handler is added by --handler
        if module.name == handler.name:
            continue
        shutil.copy2(module, package / module.name)
    shutil.copyfile(config_path, extra / "config.ini")
    shutil.copyfile(FRAMING_STATS, extra / STATS_FILE)  # written by scripts/tools/framing_stats.py
    write_glosses(glosses_from_wlasl(data / "WLASL_v0.3.json", num_classes), extra / "glosses.txt")
    model_config = yaml.safe_load((REPO / "configs" / f"{variant}.yaml").read_text(encoding="utf-8"))
    if overlay is not None:  # e.g. configs/video.yaml: its keys replace the variant's, handler: merged
        extra_config = yaml.safe_load(overlay.read_text(encoding="utf-8"))
        handler_settings = {**model_config.get("handler", {}), **extra_config.pop("handler", {})}
        model_config.update(extra_config, handler=handler_settings)
    settings = model_config.setdefault("handler", {})
    settings.update(settings_override or {})
    settings["runtime"] = runtime_name({"runtime": runtime or settings.get("runtime", "eager")})
    settings.update(variant=variant, num_classes=num_classes, checkpoint_sha256=sha256_file(weights.checkpoint))
    if settings["runtime"] != "eager":
        model.load_state_dict(state, strict=True)
        try:
            report = build_onnx(model, settings["runtime"], extra / ONNX_FILE, data, config.input_feature)
        except ParityError as exc:
            raise BuildError(str(exc)) from exc
        print(f"      {variant}: {report}")
        settings["onnx_sha256"] = sha256_file(extra / ONNX_FILE)
    model_config_path = staging / "model-config.yaml"
    model_config_path.write_text(yaml.safe_dump(model_config, sort_keys=False), encoding="utf-8")
    return model_config_path


def build(variant: str, weights: Weights, data: Path, version: str, export: Path, staging: Path,
          video: bool = False, runtime: str | None = None, handler_settings: dict | None = None) -> Path:
    """Stage and archive one variant (video: <variant>_video.mar with the video handler); returns the .mar path."""
    handler, overlay = (VIDEO_HANDLER, VIDEO_CONFIG) if video else (HANDLER, None)
    name = f"{variant}_video" if video else variant
    model_config = stage(variant, weights, data, staging, handler, overlay, runtime, handler_settings)
    archiver = Path(sys.executable).with_name("torch-model-archiver")
    command = [str(archiver), "--model-name", name, "--version", version,
               "--serialized-file", str(weights.checkpoint), "--handler", str(handler),
               "--extra-files", str(staging / "extra"), "--config-file", str(model_config),
               "--export-path", str(export), "--force"]
    # The archiver stages files in $TMPDIR/<model-name>: a private TMPDIR keeps concurrent builds apart.
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, TMPDIR=str(staging)))
    if done.returncode != 0:
        raise BuildError(f"torch-model-archiver failed: {done.stderr.strip() or done.stdout.strip()}")
    return export / f"{name}.mar"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--version", default="1.0", help="archive version (default 1.0)")
    parser.add_argument("--data", type=Path, default=None, help="WLASL data directory (default: see README)")
    parser.add_argument("--export-path", type=Path, default=REPO / "model_store")
    parser.add_argument("--build-dir", type=Path, default=REPO / "build")
    parser.add_argument("--require", action="store_true", help="fail if a requested variant has no weights")
    parser.add_argument("--video", action="store_true",
                        help="build <variant>_video.mar (video handler, configs/video.yaml) instead")
    parser.add_argument("--runtime", choices=RUNTIMES, default=None,
                        help="runtime for every archive (default: handler.runtime in configs/aslN.yaml)")
    parser.add_argument("--handler-setting", action="append", default=[], metavar="KEY=VALUE",
                        help="set a handler: setting in every archive, e.g. min_hand_frames=5 (value read as YAML)")
    args = parser.parse_args(argv)
    handler_settings = {key: yaml.safe_load(value) for key, value in
                        (item.split("=", 1) for item in args.handler_setting)}
    data = (args.data or data_root()).resolve()
    args.export_path.mkdir(parents=True, exist_ok=True)
    built, failed = 0, 0
    for variant in args.variants:
        weights = find_weights(data, variant)
        if weights is None:
            print(f"skip  {variant}: no checkpoint under {data}/checkpoints/{variant}/ (ckpt.pth or pytorch_model.bin)")
            failed += args.require
            continue
        try:
            mar = build(variant, weights, data, args.version, args.export_path,
                        args.build_dir / (f"{variant}_video" if args.video else variant), args.video, args.runtime,
                        handler_settings)
        except BuildError as exc:
            print(f"FAIL  {variant}: {exc}", file=sys.stderr)
            failed += 1
            continue
        built += 1
        print(f"built {mar} (version {args.version}) from {weights.checkpoint}")
    if built == 0 and not failed:
        print(f"no archive built: no checkpoints found under {data}", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
