"""Kubernetes/KServe manifests validated offline, and the KServe storage layout served for real."""
from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path

import pytest
import requests
import yaml

from scripts.bench import capacity
from scripts.tools import k8s_validate
from scripts.archive import kserve_pack
from scripts.serve.torchserve_ctl import Ports, TorchServe
from scripts.client.core import read_properties
from scripts.wlasl_data import REPO

K8S = REPO / "configs" / "k8s"
MANIFESTS = sorted(K8S.glob("*.yaml"))


def docs_by_kind(path: Path) -> dict[str, dict]:
    return {doc["kind"]: doc for doc in k8s_validate.documents(path)}


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_manifests_validate_offline(path: Path) -> None:
    assert k8s_validate.validate_file(path) == []


def test_kinds_are_the_ones_documented() -> None:
    assert {path.name: sorted(docs_by_kind(path)) for path in MANIFESTS} == {
        "deployment.yaml": ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Service"],
        "inferenceservice.yaml": ["InferenceService", "ServiceAccount"]}


@pytest.mark.parametrize("edit, message", [
    (lambda isvc: isvc["spec"]["predictor"]["model"].update(storageURI="s3://x"), "'storageURI' was unexpected"),
    (lambda isvc: isvc["spec"]["predictor"].update(minReplicas="one"), "'one' is not of type 'integer'"),
    (lambda isvc: isvc["spec"]["predictor"]["model"]["modelFormat"].pop("name"), "'name' is a required property"),
    (lambda isvc: isvc["spec"].pop("predictor"), "'predictor' is a required property"),
])
def test_inference_service_schema_rejects_mistakes(edit, message: str) -> None:
    isvc = copy.deepcopy(docs_by_kind(K8S / "inferenceservice.yaml")["InferenceService"])
    edit(isvc)
    problems = k8s_validate.validate_document(isvc)
    assert any(message in problem for problem in problems), problems


@pytest.mark.parametrize("kind, edit, message", [
    ("Deployment", lambda d: d["spec"].update(replica=3), "'replica' was unexpected"),
    ("Deployment", lambda d: d["spec"]["template"]["spec"]["containers"][1]["env"][0]["valueFrom"]["secretKeyRef"]
     .update(keyName="token"), "'keyName' was unexpected"),
    ("HorizontalPodAutoscaler", lambda h: h["spec"]["metrics"][0]["resource"]["target"]
     .update(averageUtilization="70%"), "'70%' is not of type"),
    ("Service", lambda s: s["spec"]["ports"][0].update(port="eighty"), "'eighty' is not of type"),
])
def test_core_schemas_reject_mistakes(kind: str, edit, message: str) -> None:
    doc = copy.deepcopy(docs_by_kind(K8S / "deployment.yaml")[kind])
    edit(doc)
    problems = k8s_validate.validate_document(doc)
    assert any(message in problem for problem in problems), problems


def test_deployment_pieces_fit_together() -> None:
    docs = docs_by_kind(K8S / "deployment.yaml")
    deployment, service, hpa = docs["Deployment"], docs["Service"], docs["HorizontalPodAutoscaler"]
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels and service["spec"]["selector"] == labels
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                            "name": deployment["metadata"]["name"]}
    containers = {c["name"]: c for c in pod["spec"]["containers"]}
    ports = {p["name"]: p["containerPort"] for c in containers.values() for p in c.get("ports", [])}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= set(ports)
    cluster = read_properties(K8S / "cluster.properties")
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(ports["metrics"])
    assert cluster["metrics_address"].endswith(f":{ports['metrics']}")
    assert all("resources" in c and "requests" in c["resources"] for c in containers.values())
    proxy = containers["auth-proxy"]
    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(proxy)
    [token] = [e for e in proxy["env"] if e["name"] == "INFERENCE_TOKEN"]
    assert token["valueFrom"]["secretKeyRef"] == {"name": "tgcn-serve-token", "key": "token"}
    template = docs["ConfigMap"]["data"]["default.conf.template"]
    backend = cluster["inference_address"].removeprefix("http://")
    assert '"Bearer ${INFERENCE_TOKEN}" 1;' in template and f"proxy_pass http://{backend}" in template
    args = containers["torchserve"]["args"]
    mount = containers["torchserve"]["volumeMounts"][0]["mountPath"]
    assert args[args.index("--ts-config") + 1] == f"{mount}/config/config.properties"
    assert args[args.index("--model-store") + 1] == cluster["model_store"] == f"{mount}/model-store"
    assert cluster["metrics_config"] == f"{mount}/config/metrics.yaml"


def test_inference_service_uses_the_torchserve_runtime() -> None:
    isvc = docs_by_kind(K8S / "inferenceservice.yaml")
    predictor = isvc["InferenceService"]["spec"]["predictor"]
    assert predictor["model"]["modelFormat"]["name"] == "pytorch" and predictor["model"]["protocolVersion"] == "v1"
    assert {"readinessProbe", "livenessProbe", "resources"} <= set(predictor["model"])
    assert isvc["InferenceService"]["metadata"]["annotations"]["prometheus.io/port"] == "8082"
    assert isvc["ServiceAccount"]["metadata"]["name"] == predictor["serviceAccountName"]


@pytest.fixture(scope="module")
def packed(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kserve") / "layout"
    assert kserve_pack.main(["--model-store", str(model_store), "--out", str(out)]) == 0
    return out


def test_pack_writes_the_kserve_layout(packed: Path, model_store: Path) -> None:
    files = sorted(str(path.relative_to(packed)) for path in packed.rglob("*") if path.is_file())
    variants = ("asl100", "asl1000", "asl2000", "asl300")
    assert files == ["config/config.properties", "config/metrics.yaml", *(f"model-store/{v}.mar" for v in variants)]
    config = read_properties(packed / "config" / "config.properties")
    assert config["model_store"] == "/mnt/models/model-store" and config["metrics_mode"] == "prometheus"
    assert config["disable_token_authorization"] == "true" and config["enable_envvars_config"] == "true"
    snapshot = json.loads(config["model_snapshot"])
    assert snapshot["modelCount"] == 4 and sorted(snapshot["models"]) == sorted(variants)
    for variant in variants:
        settings = yaml.safe_load((REPO / "configs" / f"{variant}.yaml").read_text())
        entry = snapshot["models"][variant]["1.0"]
        assert entry["marName"] == f"{variant}.mar" and entry["defaultVersion"] is True
        assert {k: entry[k] for k in kserve_pack.SNAPSHOT_KEYS} == {k: settings[k] for k in kserve_pack.SNAPSHOT_KEYS}
    with zipfile.ZipFile(packed / "model-store" / "asl100.mar") as archive, \
            zipfile.ZipFile(model_store / "asl100.mar") as original:
        assert archive.read("MAR-INF/MANIFEST.json") == original.read("MAR-INF/MANIFEST.json")


def test_pack_refuses_missing_archives(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert kserve_pack.main(["--model-store", str(tmp_path), "--out", str(tmp_path / "out"), "--models", "asl100"]) == 1
    assert "asl100.mar" in capsys.readouterr().err


def test_packed_layout_serves_kserve_v1_requests(packed: Path, clip_frames: list[dict], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """TorchServe started from the packed config with KServe's envelope (as the kserve-torchserve runtime
    sets it), on loopback ports: a v1 {"instances": [...]} request gets {"predictions": [...]}."""
    monkeypatch.setenv("TS_SERVICE_ENVELOPE", "kserve")
    server = TorchServe(tmp_path / "run", packed / "model-store", packed / "config" / "config.properties",
                        ports=Ports.free(), overrides={"metrics_config": str(packed / "config" / "metrics.yaml")})
    server.start(["asl100"], timeout=180)
    try:
        ping = requests.get(f"{server.inference_url}/ping", timeout=10)  # the probes' target; no token in the pod
        assert ping.status_code == 200 and ping.json()["status"] == "Healthy"
        body = {"instances": [{"data": {"openpose_frames": clip_frames, "top_k": 3}}]}
        response = requests.post(f"{server.inference_url}/v1/models/asl100:predict", json=body, timeout=60)
        assert response.status_code == 200, response.text
        [answer] = response.json()["predictions"]
        assert answer["top_k"][0]["gloss"] == "language" and len(answer["top_k"]) == 3
        assert answer["top_k"][0]["probability"] == pytest.approx(0.9993, abs=5e-4)
        bad = requests.post(f"{server.inference_url}/v1/models/asl100:predict", timeout=60,
                            json={"instances": [{"data": {"openpose_frames": clip_frames, "top_k": 0}}]})
        assert bad.status_code == 400 and "top_k must be" in bad.json()["predictions"][0]["error"]
    finally:
        assert server.stop()


def test_replicas_for_a_target_rate() -> None:
    assert capacity.replicas_needed(100, 45.0, 0.7) == 4
    assert capacity.replicas_needed(2000, 45.0, 0.7) == 64
    assert capacity.replicas_needed(1, 45.0, 0.7) == 1
