"""A WLASL data tree for tests and benchmarks: the real json, clips and released weights, with
shape-correct random weights standing in for variants whose weights are not here (asl1000, asl2000).

Generated weights are NOT trained: they let the hidden-256 / 24-stage archives be built, loaded and
served end to end; each generated checkpoint has a GENERATED-NOT-TRAINED.txt beside it.
"""
from __future__ import annotations

from pathlib import Path

from scripts.wlasl_data import REPO, VARIANTS, find_weights


def generated_checkpoint(variant: str, path: Path, seed: int = 0) -> Path:
    """A randomly initialised checkpoint with `variant`'s real shapes, written to `path`."""
    import torch

    from handlers.labels import variant_classes
    from handlers.tgcn_config import read_config
    from handlers.tgcn_model import build_model

    torch.manual_seed(seed)
    model = build_model(read_config(REPO / "configs" / f"{variant}.ini"), variant_classes(variant))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    (path.parent / "GENERATED-NOT-TRAINED.txt").write_text("random weights with the real shapes, not trained\n")
    return path


def mixed_data_tree(real: Path, root: Path, variants: tuple[str, ...] = VARIANTS) -> Path:
    """`root` as a data tree: links to `real`'s WLASL_v0.3.json, pose/ and released checkpoints;
    generated checkpoints (seeded by position) for the variants `real` has no weights for."""
    (root / "checkpoints").mkdir(parents=True)
    for name in ("WLASL_v0.3.json", "pose"):
        (root / name).symlink_to(real / name)
    for seed, variant in enumerate(variants):
        target = root / "checkpoints" / variant / "ckpt.pth"
        weights = find_weights(real, variant)
        if weights is None:
            generated_checkpoint(variant, target, seed)
        else:
            target.parent.mkdir(parents=True)
            target.symlink_to(weights.checkpoint)
    return root
