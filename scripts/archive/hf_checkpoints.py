"""Fetch TGCN checkpoints from a Hugging Face repository into the data layout the build reads.

    python -m scripts.archive.hf_checkpoints --repo-id OWNER/NAME [--variants asl100 asl300] [--revision main]
    HF_HUB_OFFLINE=1 python -m scripts.archive.hf_checkpoints --repo-id OWNER/NAME   # from the local hub cache only
    python -m scripts.archive.hf_checkpoints --snapshot DIR                          # from a local snapshot folder

The repository holds checkpoints/aslN/pytorch_model.bin and checkpoints/aslN/config.ini. Each variant's
pair is checked (config.ini against the weights' shapes and the variant's class count) and only then
installed as <data>/checkpoints/aslN/{pytorch_model.bin,config.ini}; <data> defaults to WLASL_DATA,
else data/wlasl/ in this repository. A variant that fails the check installs nothing.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from huggingface_hub import hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

from handlers.labels import variant_classes
from handlers.tgcn_config import ConfigError, read_config
from handlers.tgcn_model import CheckpointError, build_model, check_shapes, describe_checkpoint, read_state_dict
from scripts.wlasl_data import REPO, VARIANTS

FILES = ("pytorch_model.bin", "config.ini")


class FetchError(RuntimeError):
    """A variant that cannot be fetched or does not pass the shape check."""


def fetch(variant: str, repo_id: str | None, revision: str | None, snapshot: Path | None,
          cache_dir: Path | None) -> dict[str, Path]:
    """The variant's files: from the snapshot folder, or through the hub client (which honours
    HF_HUB_OFFLINE and its cache)."""
    names = {name: f"checkpoints/{variant}/{name}" for name in FILES}
    if snapshot is not None:
        paths = {name: snapshot / path for name, path in names.items()}
        missing = [str(path) for path in paths.values() if not path.is_file()]
        if missing:
            raise FetchError(f"not in the snapshot: {', '.join(missing)}")
        return paths
    try:
        return {name: Path(hf_hub_download(repo_id, path, revision=revision, cache_dir=cache_dir))
                for name, path in names.items()}
    except LocalEntryNotFoundError as exc:
        raise FetchError(f"{repo_id}: not in the local cache and the hub cannot be reached (offline?): {exc}") from None
    except EntryNotFoundError as exc:
        raise FetchError(f"{repo_id}@{revision or 'main'} has no {exc}") from None
    except HfHubHTTPError as exc:
        raise FetchError(f"{repo_id}: {exc}") from None


def verify(variant: str, files: dict[str, Path]) -> str:
    """Check the weights against the config.ini and the class count; returns what they hold."""
    try:
        config = read_config(files["config.ini"])
        state = read_state_dict(files["pytorch_model.bin"])
        check_shapes(state, build_model(config, variant_classes(variant)), f"{variant} ({files['pytorch_model.bin']})")
    except (ConfigError, CheckpointError) as exc:
        raise FetchError(str(exc)) from None
    return describe_checkpoint(state)


def install(variant: str, files: dict[str, Path], data: Path) -> Path:
    """Copy the checked files into <data>/checkpoints/<variant>/ (each replaced atomically)."""
    target = data / "checkpoints" / variant
    target.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        partial = target / f".{name}.partial"
        shutil.copyfile(source, partial)
        os.replace(partial, target / name)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--repo-id", help="Hugging Face model repository, OWNER/NAME")
    source.add_argument("--snapshot", type=Path, help="a local snapshot folder of that repository")
    parser.add_argument("--revision", default=None, help="branch, tag or commit (default: main)")
    parser.add_argument("--variants", nargs="+", default=["asl100", "asl300"], choices=VARIANTS)
    parser.add_argument("--cache-dir", type=Path, default=None, help="hub cache (default: HF_HUB_CACHE / HF_HOME)")
    parser.add_argument("--data", type=Path, default=None, help="WLASL data directory (default: see above)")
    args = parser.parse_args(argv)
    data = args.data or Path(os.environ.get("WLASL_DATA") or REPO / "data" / "wlasl")
    failed = 0
    for variant in args.variants:
        try:
            files = fetch(variant, args.repo_id, args.revision, args.snapshot, args.cache_dir)
            holds = verify(variant, files)
        except FetchError as exc:
            print(f"FAIL  {variant}: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"ok    {variant}: {holds} -> {install(variant, files, data)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
