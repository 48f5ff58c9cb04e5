"""The Kubernetes base (deploy/k8s/base) hangs together: services select their pods, the gateway's inference URL names the
inference service, and only the gateway can reach inference (which answers without authentication or audit)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import yaml

BASE = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "base"


def _docs() -> list[dict]:
    return [d for f in sorted(BASE.glob("*.yaml")) if f.name != "kustomization.yaml"
            for d in yaml.safe_load_all(f.read_text()) if d]


def _kind(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in _docs() if d["kind"] == kind}


def _pod_labels(deployment: dict) -> dict[str, str]:
    return deployment["spec"]["template"]["metadata"]["labels"]


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(f.name for f in BASE.glob("*.yaml") if f.name != "kustomization.yaml")


def test_every_service_selects_the_pods_of_a_deployment() -> None:
    pods = [_pod_labels(d) for d in _kind("Deployment").values()]
    for name, svc in _kind("Service").items():
        selector = svc["spec"]["selector"]
        assert any(selector.items() <= labels.items() for labels in pods), f"service {name} selects no pods"


def test_the_gateways_inference_url_is_the_inference_service() -> None:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    literals = dict(x.split("=", 1) for g in kustomization["configMapGenerator"] for x in g["literals"])
    url = urlparse(literals["DOSEWISE_INFERENCE_URL"])
    service = _kind("Service")[url.hostname]
    assert url.port in [p["port"] for p in service["spec"]["ports"]]


def test_only_the_gateway_can_reach_inference() -> None:
    deployments = _kind("Deployment")
    inference, gateway = _pod_labels(deployments["dosewise-inference"]), _pod_labels(deployments["dosewise-gateway"])
    guarding = [p for p in _kind("NetworkPolicy").values()
                if p["spec"]["podSelector"]["matchLabels"].items() <= inference.items()]
    assert guarding, "no NetworkPolicy selects the inference pods: every pod in the cluster can call it"
    for policy in guarding:
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        for rule in policy["spec"].get("ingress", []):
            sources = [s["podSelector"]["matchLabels"] for s in rule["from"]]
            assert sources and all(s.items() <= gateway.items() for s in sources), sources
    container_ports = {p["containerPort"] for c in deployments["dosewise-inference"]["spec"]["template"]["spec"]["containers"]
                       for p in c["ports"]}
    allowed = {p["port"] for policy in guarding for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert allowed == container_ports


def _config() -> dict[str, str]:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    return dict(x.split("=", 1) for g in kustomization["configMapGenerator"] for x in g["literals"])


def _mounts(pod_spec: dict) -> dict[str, tuple[str, bool]]:
    """mountPath → (claim, read-only) of a pod's persistent-volume mounts."""
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod_spec.get("volumes", [])
              if "persistentVolumeClaim" in v}
    return {m["mountPath"]: (claims[m["name"]], bool(m.get("readOnly"))) for c in pod_spec["containers"]
            for m in c.get("volumeMounts", []) if m["name"] in claims}


def test_published_policies_are_where_inference_reads_them() -> None:
    """The registry stores a published policy's absolute path under DOSEWISE_VAR_DIR: trainer and setup job write it, and
    inference must see the same files at the same path (a hot swap to an artifact it cannot open would fail)."""
    var_dir = _config()["DOSEWISE_VAR_DIR"]
    deployments, jobs = _kind("Deployment"), _kind("Job")
    trainer = _mounts(deployments["dosewise-trainer"]["spec"]["template"]["spec"])
    inference = _mounts(deployments["dosewise-inference"]["spec"]["template"]["spec"])
    setup = _mounts(jobs["dosewise-setup"]["spec"]["template"]["spec"])
    claim = trainer[var_dir][0]
    assert trainer[var_dir] == (claim, False) and setup[var_dir] == (claim, False)
    assert inference[var_dir] == (claim, True)
    assert "ReadWriteMany" in _kind("PersistentVolumeClaim")[claim]["spec"]["accessModes"], "pods on several nodes"


def test_a_setup_job_migrates_the_database_and_bootstraps_the_policies() -> None:
    job = _kind("Job")["dosewise-setup"]["spec"]["template"]["spec"]["containers"][0]
    command = " ".join(job["command"])
    assert command.index("db upgrade") < command.index("dosewise_trainer.bootstrap")
    assert job["image"].startswith("dosewise-trainer")  # the bootstrap is trainer code
