"""Command line for tgcn-serve: predict over HTTP/gRPC/KServe, list versions, ship, promote, roll back, scale.

    python -m scripts.client.cli predict ../shared/data/wlasl/pose/32162 --transport grpc
    python -m scripts.client.cli versions asl100
    python -m scripts.client.cli ship asl100 --version 2.0 --checkpoint new/ckpt.pth --expect language
    python -m scripts.client.cli rollback asl100
    python -m scripts.client.cli scale asl100 2

Every command talks to the instance described by --config (config.properties) with the tokens in
--key-file (run/key_file.json); errors print one line naming the problem and exit with code 1.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from handlers.tgcn_config import RUNTIMES
from scripts.client import connect, kserve_client
from scripts.client.core import (BASE_CONFIG, DEFAULT_KEY_FILE, VIDEO_CONFIG, VIDEO_RUN_DIR, ClientError, Endpoint,
                                 extract_locally, load_input, read_properties)
from scripts.serve import lifecycle
from scripts.serve.torchserve_ctl import DEFAULT_STORE, VIDEO_SUFFIX
from scripts.wlasl_data import Weights, data_root, find_weights, reference_clip

PREDICT_TRANSPORTS = ("http", "grpc", "kserve", "kservev2", "kservev2-grpc")


def predict(endpoint: Endpoint, args: argparse.Namespace) -> list[dict[str, Any]]:
    """One answer per sample (several only for a v2 batch of samples)."""
    body = load_input(args.input)
    if "video" in body and args.extract_locally:
        body = extract_locally(args.input)
    elif "video" in body:  # to <model>_video on the video TorchServe, which runs MediaPipe
        video = Endpoint.from_properties({**read_properties(BASE_CONFIG), **read_properties(VIDEO_CONFIG)},
                                         args.key_file if args.key_file != DEFAULT_KEY_FILE
                                         else VIDEO_RUN_DIR / "key_file.json")
        endpoint = dataclasses.replace(video, inference_url=args.url) if args.url else video
        body["top_k"] = args.top_k
        timeout = max(args.timeout, 300.0)  # about 50 ms per frame for Holistic
        return [connect(endpoint, "http", timeout).predict(args.model + VIDEO_SUFFIX, body, args.version)]
    body["top_k"] = args.top_k
    if args.transport in ("http", "grpc"):
        return [connect(endpoint, args.transport, args.timeout).predict(args.model, body, args.version)]
    if args.transport == "kserve":
        return kserve_client.v1_predict(endpoint, args.model, [body], args.timeout)
    if "sample" not in body:
        raise ClientError("the KServe v2 protocol takes prepared (55, 100) samples ([B, 55, 100] tensor): "
                          "use a .npy/.json sample, or --transport http/grpc/kserve for clips and frames")
    infer = kserve_client.v2_infer if args.transport == "kservev2" else kserve_client.v2_infer_grpc
    return infer(endpoint, args.model, np.asarray(body["sample"], dtype=np.float32), args.top_k, args.version,
                 args.timeout)


def print_answer(answer: dict[str, Any], source: Path) -> None:
    print(f"{answer['model']} v{answer['version']}: {source}")
    for rank, entry in enumerate(answer["top_k"], 1):
        print(f"{rank:>2}. {entry['gloss']:<20} p={entry['probability']:.4f}  (class {entry['index']})")


def smoke_of(args: argparse.Namespace) -> lifecycle.Smoke:
    """The smoke prediction: --smoke INPUT, else WLASL clip 32162 from the data directory."""
    source = args.smoke or reference_clip()
    return lifecycle.Smoke(load_input(source), args.expect)


def weights_of(args: argparse.Namespace) -> tuple[Weights, Path]:
    """The new version's checkpoint (--checkpoint, or the variant's in --data) and the WLASL data directory."""
    data = (args.data or data_root()).resolve()
    if args.checkpoint:
        sibling = args.checkpoint.parent / "config.ini"
        return Weights(args.checkpoint.resolve(), sibling if sibling.is_file() else None), data
    weights = find_weights(data, args.model)
    if weights is None:
        raise ClientError(f"no checkpoint for {args.model} under {data}; pass --checkpoint")
    return weights, data


def run(args: argparse.Namespace) -> int:
    endpoint = Endpoint.from_config(args.config, args.key_file)
    if args.command == "predict":
        if args.url:
            endpoint = dataclasses.replace(endpoint, inference_url=args.url)
        answers = predict(endpoint, args)
        for answer in answers:
            print(json.dumps(answer, indent=2)) if args.json else print_answer(answer, args.input)
        return 0
    client = connect(endpoint, args.transport, args.timeout)
    if args.command == "models":
        print("\n".join(client.list_models()))
    elif args.command == "versions":
        for entry in lifecycle.versions(client, args.model):
            print(f"{args.model} {entry['version']:<8} {'default' if entry['default'] else '':<8} "
                  f"{entry['archive']}  workers: {', '.join(entry['workers']) or 'none'}")
    elif args.command == "ship":
        weights, data = weights_of(args)
        archive = lifecycle.ship(client, args.model_store, args.model, args.version, weights, data, smoke_of(args),
                                 make_default=not args.no_promote, runtime=args.runtime)
        state = "registered, smoke-tested" + ("" if args.no_promote else " and made the default")
        print(f"{args.model} {args.version} ({archive}) {state}")
    elif args.command == "promote":
        previous = lifecycle.promote(client, args.model, args.version, smoke_of(args))
        print(f"{args.model}: default {previous} -> {args.version}")
    elif args.command == "rollback":
        current, to = lifecycle.rollback(client, args.model, args.to)
        print(f"{args.model}: default {current} -> {to}")
    elif args.command == "scale":
        print(client.scale(args.model, args.workers, args.version))
    elif args.command == "unregister":
        print(client.unregister(args.model, args.version))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=BASE_CONFIG, help="the instance's config.properties")
    common.add_argument("--key-file", type=Path, default=DEFAULT_KEY_FILE, help="TorchServe's key_file.json")
    common.add_argument("--timeout", type=float, default=60.0, help="seconds per call")
    manage = argparse.ArgumentParser(add_help=False, parents=[common])
    manage.add_argument("--transport", choices=("http", "grpc"), default="http")
    smoke = argparse.ArgumentParser(add_help=False)
    smoke.add_argument("--smoke", type=Path, help="input for the smoke prediction (default: WLASL clip 32162)")
    smoke.add_argument("--expect", help="gloss the smoke prediction's top-1 must be")
    commands = root.add_subparsers(dest="command", required=True)

    sub = commands.add_parser("predict", parents=[common], help="classify a clip, frames or sample")
    sub.add_argument("input", type=Path, help="OpenPose frame folder, .npy array, .json body, .pose or video file")
    sub.add_argument("--extract-locally", action="store_true",
                     help="video: run MediaPipe Holistic here (.venv-video) and send only the keypoints")
    sub.add_argument("--model", default="asl100")
    sub.add_argument("--version", default=None)
    sub.add_argument("--top-k", type=int, default=5)
    sub.add_argument("--transport", choices=PREDICT_TRANSPORTS, default="http")
    sub.add_argument("--url", default=None, help="inference URL (default: from --config)")
    sub.add_argument("--json", action="store_true", help="print the raw JSON answer")
    commands.add_parser("models", parents=[manage], help="list registered models")
    sub = commands.add_parser("versions", parents=[manage], help="list a model's versions")
    sub.add_argument("model")
    sub = commands.add_parser("ship", parents=[manage, smoke], help="build, register, smoke-test and promote")
    sub.add_argument("model", help="variant, e.g. asl100")
    sub.add_argument("--version", required=True)
    sub.add_argument("--checkpoint", type=Path, help="weights of the new version (default: the variant's in --data)")
    sub.add_argument("--data", type=Path, default=None, help="WLASL data directory (default: see README)")
    sub.add_argument("--model-store", type=Path, default=DEFAULT_STORE)
    sub.add_argument("--no-promote", action="store_true", help="register and smoke-test only")
    sub.add_argument("--runtime", choices=RUNTIMES, default=None,
                     help="runtime of the new archive (default: handler.runtime in configs/aslN.yaml)")
    sub = commands.add_parser("promote", parents=[manage, smoke], help="smoke-test a version, then set it default")
    sub.add_argument("model")
    sub.add_argument("version")
    sub = commands.add_parser("rollback", parents=[manage], help="make the previous version the default")
    sub.add_argument("model")
    sub.add_argument("--to", default=None, help="version to restore (default: the highest below the default)")
    sub = commands.add_parser("scale", parents=[manage], help="set a model's number of workers")
    sub.add_argument("model")
    sub.add_argument("workers", type=int)
    sub.add_argument("--version", default=None)
    sub = commands.add_parser("unregister", parents=[manage], help="remove a version (not the default)")
    sub.add_argument("model")
    sub.add_argument("version")
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except (ClientError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
