"""Versions on the live session TorchServe: ship asl100 2.0 next to 1.0, promote, roll back, refuse a broken one."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from handlers.tgcn_model import read_state_dict
from scripts.client import HttpClient, cli, connect
from scripts.serve import lifecycle
from scripts.client.core import ClientError, load_input
from scripts.serve.torchserve_ctl import TorchServe
from scripts.wlasl_data import Weights
from tests.conftest import CLIP, SHARED


def altered_checkpoint(path: Path, change) -> Path:
    """The real asl100 weights with `change` applied to every float tensor."""
    state = read_state_dict(SHARED / "checkpoints" / "asl100" / "ckpt.pth")
    torch.save({name: change(t) if t.is_floating_point() else t for name, t in state.items()}, path)
    return path


def test_version_key_orders_numerically() -> None:
    assert sorted(["10.0", "2.0", "1.10", "1.9", "2.0-rc1"], key=lifecycle.version_key) == \
        ["1.9", "1.10", "2.0", "2.0-rc1", "10.0"]


def test_ship_promote_rollback_and_refuse_broken(server: TorchServe, data_tree: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    client = HttpClient(server.endpoint())
    smoke = lifecycle.Smoke(load_input(CLIP))
    generator = torch.Generator().manual_seed(7)
    retrained = altered_checkpoint(tmp_path / "v2.pth",
                                   lambda t: t + 0.05 * t.std() * torch.randn(t.shape, generator=generator))
    broken = altered_checkpoint(tmp_path / "v3.pth", lambda t: torch.full_like(t, float("nan")))
    body = {**load_input(CLIP), "top_k": 5}
    try:
        archive = lifecycle.ship(client, server.model_store, "asl100", "2.0", Weights(retrained, None), data_tree,
                                 smoke)
        assert archive == "asl100-2.0.mar" and (server.model_store / archive).is_file()
        assert [(v["version"], v["default"]) for v in lifecycle.versions(client, "asl100")] == \
            [("1.0", False), ("2.0", True)]
        one, two = client.predict("asl100", body, "1.0"), client.predict("asl100", body, "2.0")
        assert (one["version"], two["version"]) == ("1.0", "2.0")
        assert one["top_k"] != two["top_k"]  # different weights, different probabilities
        assert client.predict("asl100", body) == two  # set-default switched the unversioned endpoint

        assert lifecycle.rollback(client, "asl100") == ("2.0", "1.0")
        assert client.predict("asl100", body) == one

        # The ONNX build refuses NaN weights outright; an eager archive of them builds, and the smoke gate refuses it.
        with pytest.raises(ClientError, match="cannot build asl100 3.0: onnx logits differ from eager by nan"):
            lifecycle.ship(client, server.model_store, "asl100", "3.0", Weights(broken, None), data_tree, smoke)
        with pytest.raises(ClientError, match="not promoted: asl100 3.0 failed the smoke prediction: probabilities"):
            lifecycle.ship(client, server.model_store, "asl100", "3.0", Weights(broken, None), data_tree, smoke,
                           runtime="eager")
        assert lifecycle.default_version(client, "asl100") == "1.0"
        with pytest.raises(ClientError, match="already registered"):
            lifecycle.ship(client, server.model_store, "asl100", "2.0", Weights(retrained, None), data_tree, smoke)

        grpc_args = ["--config", str(server.run_dir / "config.properties"), "--key-file", str(server.key_file),
                     "--transport", "grpc"]
        assert cli.main(["promote", "asl100", "3.0", "--smoke", str(CLIP), *grpc_args]) == 1
        assert "not promoted" in capsys.readouterr().err
        assert cli.main(["promote", "asl100", "2.0", "--smoke", str(CLIP), "--expect", "language", *grpc_args]) == 0
        assert cli.main(["versions", "asl100", *grpc_args]) == 0
        assert cli.main(["rollback", "asl100", "--to", "1.0", *grpc_args]) == 0
        out = capsys.readouterr().out
        assert "default 1.0 -> 2.0" in out and "asl100 2.0" in out and "default 2.0 -> 1.0" in out
        assert connect(server.endpoint(), "grpc").predict("asl100", body) == one
    finally:
        client.set_default("asl100", "1.0")
        for version in ("2.0", "3.0"):
            try:
                client.unregister("asl100", version)
            except ClientError:
                pass
    assert [entry["modelVersion"] for entry in client.describe("asl100")] == ["1.0"]
