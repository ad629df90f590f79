"""Class index -> gloss. Class i of variant K is the i-th gloss of sorted(first K glosses of WLASL)."""
from __future__ import annotations

import json
from pathlib import Path


def variant_classes(variant: str) -> int:
    """'asl300' -> 300."""
    if not variant.startswith("asl") or not variant[3:].isdigit():
        raise ValueError(f"variant must look like asl100, asl300, asl1000 or asl2000, got {variant!r}")
    return int(variant[3:])


def glosses_from_wlasl(wlasl_json: str | Path, num_classes: int) -> list[str]:
    """The class order of the released TGCN checkpoints, derived from WLASL_v0.3.json.

    The TGCN data loader fits sklearn's LabelEncoder on the subset's glosses, which sorts them.
    """
    entries = json.loads(Path(wlasl_json).read_text(encoding="utf-8"))
    if len(entries) < num_classes:
        raise ValueError(f"{wlasl_json} lists {len(entries)} glosses, fewer than {num_classes}")
    glosses = sorted(entry["gloss"] for entry in entries[:num_classes])
    if len(set(glosses)) != num_classes:
        raise ValueError(f"{wlasl_json}: the first {num_classes} glosses are not unique")
    return glosses


def write_glosses(glosses: list[str], path: str | Path) -> None:
    """One gloss per line, line i = class i."""
    Path(path).write_text("\n".join(glosses) + "\n", encoding="utf-8")


def read_glosses(path: str | Path, num_classes: int) -> list[str]:
    """Read a gloss file written by `write_glosses` and check its length."""
    glosses = Path(path).read_text(encoding="utf-8").splitlines()
    if len(glosses) != num_classes:
        raise ValueError(f"{path} has {len(glosses)} glosses; the model has {num_classes} classes")
    return glosses
