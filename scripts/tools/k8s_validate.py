"""Validate Kubernetes manifests offline: core kinds against the Kubernetes schemas that
kubernetes-validate ships, InferenceServices against KServe's CRD schema (configs/k8s/schemas/).

Both are strict: a field the schema does not define is an error (as `kubectl apply
--validate=strict`), so a misspelt field cannot be dropped silently by the API server.

    python -m scripts.tools.k8s_validate configs/k8s/*.yaml
    python -m scripts.tools.k8s_validate --extract-crd serving.kserve.io_inferenceservices.yaml   # refresh the schema
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import kubernetes_validate
import yaml

from scripts.wlasl_data import REPO

KUBERNETES_VERSION = "1.30.0"
KSERVE_SCHEMA = REPO / "configs" / "k8s" / "schemas" / "inferenceservice-v1beta1.schema.json.gz"
KSERVE_API = "serving.kserve.io/v1beta1"


def documents(path: Path) -> Iterator[dict[str, Any]]:
    """The non-empty YAML documents of a manifest file."""
    with open(path, encoding="utf-8") as handle:
        yield from (doc for doc in yaml.safe_load_all(handle) if doc)


def strict(schema: Any) -> Any:
    """A copy of an OpenAPI v3 schema in which objects with declared properties allow no others,
    except where Kubernetes keeps unknown fields (x-kubernetes-preserve-unknown-fields)."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: strict(value) for key, value in schema.items()}
    if ("properties" in schema and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")):
        result["additionalProperties"] = False
    return result


@lru_cache(maxsize=1)
def kserve_validator() -> jsonschema.protocols.Validator:
    """A strict validator for InferenceService from KServe's CRD openAPIV3Schema."""
    schema = strict(json.loads(gzip.decompress(KSERVE_SCHEMA.read_bytes())))
    schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata", "spec"})
    return jsonschema.Draft7Validator(schema)


def validate_document(doc: dict[str, Any]) -> list[str]:
    """Problems with one manifest document (empty when it is valid)."""
    kind, api = doc.get("kind"), doc.get("apiVersion")
    if kind == "InferenceService":
        if api != KSERVE_API:
            return [f"InferenceService: apiVersion must be {KSERVE_API}, got {api!r}"]
        errors = sorted(kserve_validator().iter_errors(doc), key=lambda error: list(error.absolute_path))
        problems = [f"{'.'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}" for error in errors]
        name = doc.get("metadata", {}).get("name")
        if not isinstance(name, str) or not name:
            problems.append("metadata.name is required")
        return problems
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{'.'.join(map(str, error.path)) or '<root>'}: {error.message}"]
    except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as error:
        return [f"no Kubernetes {KUBERNETES_VERSION} schema for {api} {kind}: {error}"]
    return []


def validate_file(path: Path) -> list[str]:
    """Problems in every document of a manifest file, each prefixed with file, kind and name."""
    problems = []
    for doc in documents(path):
        where = f"{path}: {doc.get('kind')} {doc.get('metadata', {}).get('name')}"
        problems += [f"{where}: {problem}" for problem in validate_document(doc)]
    return problems


def extract_crd(crd_yaml: Path, out: Path = KSERVE_SCHEMA) -> None:
    """Store the v1beta1 openAPIV3Schema of KServe's InferenceService CRD as gzipped JSON."""
    crd = yaml.safe_load(crd_yaml.read_text(encoding="utf-8"))
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta1"]
    data = json.dumps(version["schema"]["openAPIV3Schema"], sort_keys=True, separators=(",", ":")).encode()
    out.write_bytes(gzip.compress(data, mtime=0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifests", nargs="*", type=Path)
    parser.add_argument("--extract-crd", type=Path, help="KServe's serving.kserve.io_inferenceservices.yaml")
    args = parser.parse_args(argv)
    if args.extract_crd:
        extract_crd(args.extract_crd)
        print(f"wrote {KSERVE_SCHEMA}")
    problems = [problem for path in args.manifests for problem in validate_file(path)]
    print("\n".join(problems) or f"{len(args.manifests)} manifest file(s) valid")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
