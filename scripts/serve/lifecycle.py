"""Model versions on a running TorchServe: ship a new version, promote it, roll it back.

A new version of a variant keeps the model name and gets its own archive in the model store,
`<variant>-<version>.mar` (`make serve` starts only `<variant>.mar`). The management API registers
it by that file name (no URLs: config.properties allows none). A version is promoted (set-default)
only after a smoke prediction on `/predictions/<name>/<version>` succeeded; rollback makes the
previous version the default again.
"""
from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.client.core import Client, ClientError
from scripts.wlasl_data import Weights


@dataclass(frozen=True)
class Smoke:
    """The smoke prediction a version must pass before it becomes the default."""

    body: dict[str, Any]
    expect: str | None = None  # the top-1 gloss the answer must have, if given


def version_key(version: str) -> tuple:
    """Sort key for versions like 1.0, 1.10, 2.0-rc1: numeric parts compare as numbers."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in version.replace("-", ".").split("."))


def versions(client: Client, model: str) -> list[dict[str, Any]]:
    """Every registered version of `model`, oldest first: version, default flag, workers."""
    default = default_version(client, model)
    described = sorted(client.describe(model), key=lambda entry: version_key(entry["modelVersion"]))
    return [{"version": entry["modelVersion"], "default": entry["modelVersion"] == default,
             "archive": entry.get("modelUrl"), "workers": [w.get("status") for w in entry.get("workers", [])]}
            for entry in described]


def default_version(client: Client, model: str) -> str:
    """The version that /predictions/<model> answers with."""
    return next(entry["modelVersion"] for entry in client.describe(model, None) if entry)


def build_version(variant: str, version: str, weights: Weights, data: Path, store: Path,
                  runtime: str | None = None) -> str:
    """Build `variant` version `version` into the store as <variant>-<version>.mar; returns that name.

    `runtime` overrides the variant's configured one (handlers/tgcn_config.py RUNTIMES)."""
    from scripts.archive.build_archives import BuildError, build  # imports torch: only when building

    name = f"{variant}-{version}.mar"
    target = store / name
    with tempfile.TemporaryDirectory(prefix=f"{variant}-{version}-") as tmp:
        try:
            built = build(variant, weights, data, version, Path(tmp), Path(tmp) / "staging", runtime=runtime)
        except BuildError as exc:
            raise ClientError(f"cannot build {variant} {version}: {exc}") from None
        shutil.move(built, target)
    return name


def smoke_test(client: Client, model: str, version: str, smoke: Smoke) -> dict[str, Any]:
    """Predict with exactly this version; ClientError unless the answer is well-formed and plausible."""
    answer = client.predict(model, smoke.body, version)
    entries = answer.get("top_k") or []
    probabilities = [entry.get("probability") for entry in entries]
    problems = []
    if answer.get("version") != version:
        problems.append(f"answered as version {answer.get('version')!r}")
    if not entries or not all(isinstance(p, float) and math.isfinite(p) and 0.0 <= p <= 1.0 for p in probabilities):
        problems.append(f"probabilities are not finite values in [0, 1]: {probabilities[:5]}")
    elif sum(probabilities) > 1.0 + 1e-6:
        problems.append(f"probabilities sum to {sum(probabilities):.6f} > 1")
    elif smoke.expect and entries[0].get("gloss") != smoke.expect:
        problems.append(f"top-1 is {entries[0].get('gloss')!r}, expected {smoke.expect!r}")
    if problems:
        raise ClientError(f"{model} {version} failed the smoke prediction: {'; '.join(problems)}")
    return answer


def promote(client: Client, model: str, version: str, smoke: Smoke) -> str:
    """Smoke-test `version`, then make it the default; returns the previous default."""
    previous = default_version(client, model)
    try:
        smoke_test(client, model, version, smoke)
    except ClientError as exc:
        raise ClientError(f"not promoted: {exc}") from None
    client.set_default(model, version)
    if default_version(client, model) != version:
        raise ClientError(f"set-default {model} {version} was accepted but the default is still {previous}")
    return previous


def ship(client: Client, store: Path, variant: str, version: str, weights: Weights, data: Path,
         smoke: Smoke, make_default: bool = True, runtime: str | None = None) -> str:
    """Build, register and smoke-test a new version, then promote it; returns the archive name.

    A version that fails the smoke prediction stays registered but not default (inspect it on
    /predictions/<name>/<version>, or unregister it)."""
    registered = {entry["modelVersion"] for entry in client.describe(variant)}
    if version in registered:
        raise ClientError(f"{variant} {version} is already registered; pick a new version")
    archive = build_version(variant, version, weights, data, store, runtime)
    client.register(archive)
    if make_default:
        promote(client, variant, version, smoke)
    else:
        smoke_test(client, variant, version, smoke)
    return archive


def rollback(client: Client, model: str, to: str | None = None) -> tuple[str, str]:
    """Make `to` (default: the highest version below the current default) the default again.

    Returns (from_version, to_version)."""
    current = default_version(client, model)
    registered = sorted((entry["modelVersion"] for entry in client.describe(model)), key=version_key)
    if to is None:
        older = [v for v in registered if version_key(v) < version_key(current)]
        if not older:
            raise ClientError(f"{model}: no version older than the default {current} to roll back to "
                              f"(registered: {', '.join(registered)})")
        to = older[-1]
    elif to not in registered:
        raise ClientError(f"{model} {to} is not registered (registered: {', '.join(registered)})")
    client.set_default(model, to)
    return current, to
