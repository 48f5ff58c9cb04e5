"""The Kubernetes manifests (deploy/k8s) as the cluster would receive them: every overlay rendered by kustomize
(`kubectl kustomize`) and validated offline against the Kubernetes 1.33 and 1.37 schemas (`kubernetes-validate --strict`,
which rejects any field the API does not have), then read against the code: every environment variable is a setting and
each container's environment makes valid production settings; images, ports, probes and metrics paths agree with the
Dockerfiles and the services' routes; the network policies let only the gateway be reached from outside and only the
gateway reach inference, and let the trainer talk to PostgreSQL, Redis and DNS only; every container runs hardened.

ServiceMonitor (Prometheus Operator) is a custom resource, absent from the Kubernetes schemas: it is left out of
kubernetes-validate (which would only warn) and checked here against the Services it selects.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from dosewise.settings import Settings
from tests.unit.deploy_helpers import ALIASES, DEPLOY, NOT_SETTINGS, SECRET_STAND_INS, routes, settings_from

K8S = DEPLOY / "k8s"
OVERLAYS = ("overlays/dev", "overlays/prod")
JOBS = ("jobs/policies", "jobs/policies-gather")
WITH_SERVICEMONITORS = "base + components/servicemonitor"
RENDERED = (*OVERLAYS, *JOBS, WITH_SERVICEMONITORS)
KUBERNETES_VERSIONS = ("1.33.0", "1.37.0")  # the oldest supported, and the newest kubernetes-validate bundles
CRD_GROUPS = ("monitoring.coreos.com/",)
DOCKERFILE_OF_IMAGE = {"dosewise-api": "api", "dosewise-inference": "inference", "dosewise-trainer": "trainer"}
Doc = dict[str, Any]


# --- rendering ----------------------------------------------------------------------------------------------------------
def _kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        pytest.fail("kubectl (its built-in kustomize renders deploy/k8s) is not on PATH")
    return path


@functools.cache
def render(target: str) -> tuple[Doc, ...]:
    if target == WITH_SERVICEMONITORS:  # a throwaway overlay: the component is opt-in (deploy/README.md)
        with tempfile.TemporaryDirectory() as tmp:
            rel = os.path.relpath(K8S, tmp)  # kustomize takes no absolute paths
            (Path(tmp) / "kustomization.yaml").write_text(
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                f"resources: [{rel}/base]\ncomponents: [{rel}/components/servicemonitor]\n")
            out = subprocess.run([_kubectl(), "kustomize", tmp], check=True, capture_output=True, text=True).stdout
    else:
        out = subprocess.run([_kubectl(), "kustomize", str(K8S / target)], check=True, capture_output=True, text=True).stdout
    return tuple(d for d in yaml.safe_load_all(out) if d)


def kind(docs: tuple[Doc, ...], name: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == name}


def pod_templates(docs: tuple[Doc, ...]) -> Iterator[tuple[Doc, Doc]]:
    """(workload, pod template) of every Deployment and Job."""
    for d in docs:
        if d["kind"] in ("Deployment", "Job"):
            yield d, d["spec"]["template"]


def containers(docs: tuple[Doc, ...]) -> Iterator[tuple[Doc, Doc, Doc]]:
    """(workload, pod spec, container) of every container, init containers too."""
    for workload, template in pod_templates(docs):
        spec = template["spec"]
        for c in spec.get("initContainers", []) + spec["containers"]:
            yield workload, spec, c


def image_name(container: Doc) -> str:
    """The image's last path segment without its tag: registry.example.org/dosewise/api:0.1.0 → dosewise-api."""
    base = container["image"].rsplit("/", 1)[-1].split(":")[0]
    return base if base.startswith("dosewise-") else f"dosewise-{base}"


# --- rendered and valid -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("target", RENDERED)
def test_renders_and_every_object_validates_strictly(target: str, version: str, tmp_path: Path) -> None:
    docs = [d for d in render(target) if not d["apiVersion"].startswith(CRD_GROUPS)]
    path = tmp_path / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    validate = Path(sys.executable).with_name("kubernetes-validate")
    run = subprocess.run([str(validate), "--strict", "-k", version, str(path)], capture_output=True, text=True)
    lines = run.stdout.splitlines()
    passed = [line for line in lines if line.startswith("INFO") and " passed " in line]
    print(f"{target} @ {version}: kubernetes-validate --strict: {len(passed)} of {len(docs)} passed")
    assert run.returncode == 0, run.stdout + run.stderr
    assert len(passed) == len(docs), [line for line in lines if not line.startswith("INFO")]


def test_the_validator_is_strict() -> None:
    """A misspelt field fails (without --strict it would pass unnoticed), so the passes above mean something."""
    gateway = kind(render("overlays/prod"), "Deployment")["dosewise-gateway"]
    broken = yaml.safe_dump(gateway).replace("readOnlyRootFilesystem", "readOnlyRootFileSystem")
    validate = Path(sys.executable).with_name("kubernetes-validate")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(broken)
        f.flush()
        run = subprocess.run([str(validate), "--strict", "--quiet", "-k", "1.33.0", f.name], capture_output=True, text=True)
    assert run.returncode != 0 and "readOnlyRootFileSystem" in run.stdout


def test_every_kustomization_lists_every_manifest_beside_it() -> None:
    for kustomization in K8S.rglob("kustomization.yaml"):
        k = yaml.safe_load(kustomization.read_text())
        used = set(k.get("resources", [])) | {p["path"] for p in k.get("patches", []) if "path" in p}
        here = {f.name for f in kustomization.parent.glob("*.yaml")} - {"kustomization.yaml"}
        assert here <= used, f"{kustomization.parent}: {sorted(here - used)} not used"


# --- environment: settings names, and the settings they make ---------------------------------------------------------
def _config_maps(docs: tuple[Doc, ...]) -> dict[str, dict[str, str]]:
    return {name: d.get("data", {}) for name, d in kind(docs, "ConfigMap").items()}


def environment(docs: tuple[Doc, ...], container: Doc) -> dict[str, Any]:
    """name → value (str), ("secret", key) or ("field", path), as the kubelet builds it (env wins over envFrom)."""
    maps, env = _config_maps(docs), {}
    for source in container.get("envFrom", []):
        assert set(source) == {"configMapRef"}, "secrets are referenced key by key, never wholesale"
        env.update(maps[source["configMapRef"]["name"]])
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        elif "secretKeyRef" in e["valueFrom"]:
            ref = e["valueFrom"]["secretKeyRef"]
            assert ref["name"] == "dosewise-secrets" and not ref.get("optional")
            env[e["name"]] = ("secret", ref["key"])
        else:
            env[e["name"]] = ("field", e["valueFrom"]["fieldRef"]["fieldPath"])
    return env


def _resolved(env: dict[str, Any], pod_name: str) -> dict[str, str]:
    return {k: v if isinstance(v, str) else SECRET_STAND_INS[v[1]] if v[0] == "secret" else pod_name
            for k, v in env.items()}


@pytest.mark.parametrize("target", (*OVERLAYS, *JOBS))
def test_every_variable_set_is_a_setting_and_secrets_keep_their_names(target: str) -> None:
    docs = render(target)
    for name, data in _config_maps(docs).items():
        assert set(data) <= ALIASES, f"ConfigMap {name}: {sorted(set(data) - ALIASES)} are not settings"
    for workload, _, c in containers(docs):
        env = environment(docs, c)
        unknown = set(env) - ALIASES - NOT_SETTINGS
        assert not unknown, f"{workload['metadata']['name']}/{c['name']}: {sorted(unknown)} are not settings"
        for name, value in env.items():
            if isinstance(value, tuple) and value[0] == "secret":
                assert value[1] == name, f"Secret key {value[1]} feeds {name}: one name for both"
                assert name in SECRET_STAND_INS


def _port(container: Doc, name: str) -> int:
    return next(p["containerPort"] for p in container["ports"] if p["name"] == name)


def _mounts(spec: Doc, container: Doc) -> dict[str, tuple[str, bool]]:
    """mountPath → (claim, read-only) of the container's persistent-volume mounts."""
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in spec.get("volumes", [])
              if "persistentVolumeClaim" in v}
    return {m["mountPath"]: (claims[m["name"]], bool(m.get("readOnly"))) for m in container.get("volumeMounts", [])
            if m["name"] in claims}


def _service_port_to(docs: tuple[Doc, ...], url: str) -> tuple[Doc, int]:
    """(the Deployment behind the URL's Service, the container port the URL reaches)."""
    parsed = urlparse(url)
    service = kind(docs, "Service")[parsed.hostname]
    port = next(p for p in service["spec"]["ports"] if p["port"] == parsed.port)
    [deployment] = [d for d in kind(docs, "Deployment").values()
                    if service["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    target = port["targetPort"]
    return deployment, target if isinstance(target, int) else _port(container, target)


@pytest.mark.parametrize("target", OVERLAYS)
def test_each_service_container_gets_valid_production_settings_that_match_its_ports(
        target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render(target)
    seen = set()
    for workload, spec, c in containers(docs):
        name = workload["metadata"]["name"]
        s = settings_from(_resolved(environment(docs, c), f"{name}-5d8f7-x2x9z"), monkeypatch)
        assert s.environment == "production" and not s.is_sqlite, name
        if name == "dosewise-gateway":
            assert s.api_host == "0.0.0.0" and s.api_port == _port(c, "http") and s.redis_url
            inference, port = _service_port_to(docs, s.inference_url)
            assert inference["metadata"]["name"] == "dosewise-inference"
            inf = inference["spec"]["template"]["spec"]["containers"][0]
            assert port == _port(inf, "http") == settings_from(_resolved(environment(docs, inf), "x"), monkeypatch).inference_port
        elif name == "dosewise-inference":
            assert s.inference_host == "0.0.0.0" and s.inference_port == _port(c, "http") and s.redis_url
            assert str(s.policy_dir) == "/app/policies"  # where its image carries the shipped policies
            assert _mounts(spec, c)[str(s.var_dir)] == ("dosewise-var", True)
        elif name == "dosewise-trainer":
            assert s.trainer_metrics_host == "0.0.0.0" and s.trainer_metrics_port == _port(c, "metrics") and s.redis_url
            assert environment(docs, c)["DOSEWISE_TRAINER_CONSUMER"] == ("field", "metadata.name")  # one per pod
            assert s.retrain and str(s.policy_dir) == "/app/policies"
            assert _mounts(spec, c)[str(s.var_dir)] == ("dosewise-var", False)
        elif name == "dosewise-setup":
            assert _mounts(spec, c)[str(s.var_dir)] == ("dosewise-var", False)  # untrained networks go there
            assert str(s.policy_dir) == "/app/policies"
        else:
            pytest.fail(f"unexpected workload {name}")
        seen.add(name)
    assert seen == {"dosewise-gateway", "dosewise-inference", "dosewise-trainer", "dosewise-setup"}


def test_the_secret_the_readme_creates_has_exactly_the_keys_the_manifests_read() -> None:
    readme = (DEPLOY / "README.md").read_text()
    command = re.search(r"kubectl -n \S+ create secret generic dosewise-secrets(.*?)\n\s*\n", readme, re.S)
    assert command, "deploy/README.md: no `kubectl create secret generic dosewise-secrets`"
    created = set(re.findall(r"--from-literal=([A-Z_]+)=", command.group(1)))
    read = {v[1] for t in OVERLAYS for _, _, c in containers(render(t))
            for v in environment(render(t), c).values() if isinstance(v, tuple) and v[0] == "secret"}
    assert created == read == set(SECRET_STAND_INS)


# --- images, ports, probes, metrics -------------------------------------------------------------------------------------
def _exposed(service: str) -> set[int]:
    text = (DEPLOY / "docker" / f"{service}.Dockerfile").read_text()
    return {int(p) for line in re.findall(r"^EXPOSE (.+)$", text, re.M) for p in line.split()}


@pytest.mark.parametrize("target", OVERLAYS)
def test_images_ports_probes_and_metrics_agree_with_the_dockerfiles_and_routes(target: str) -> None:
    docs = render(target)
    for workload, template in pod_templates(docs):
        for c in template["spec"]["containers"]:
            service = DOCKERFILE_OF_IMAGE[image_name(c)]
            ports = {p["containerPort"] for p in c.get("ports", [])}
            assert ports <= _exposed(service), f"{c['name']}: ports {ports}, image exposes {_exposed(service)}"
            annotations = template["metadata"].get("annotations", {})
            if workload["kind"] == "Deployment":
                assert annotations["prometheus.io/scrape"] == "true"
                assert int(annotations["prometheus.io/port"]) in ports
                assert annotations["prometheus.io/path"] == "/metrics"
            if service in ("api", "inference"):
                assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
                assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
                for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                    assert c[probe]["httpGet"]["path"] in routes(service)
                    assert c[probe]["httpGet"]["port"] == "http"
                assert "/metrics" in routes(service)
    trainer = kind(docs, "Deployment")["dosewise-trainer"]["spec"]["template"]["spec"]["containers"][0]
    assert "livenessProbe" not in trainer  # its only HTTP is metrics, served by a thread of their own: no sign of life


def test_every_container_runs_one_of_the_three_images() -> None:
    for target in (*OVERLAYS, *JOBS):
        for _, _, c in containers(render(target)):
            assert image_name(c) in DOCKERFILE_OF_IMAGE, c["image"]


def test_setup_job_migrates_then_bootstraps_with_the_trainer_image() -> None:
    job = kind(render("overlays/prod"), "Job")["dosewise-setup"]["spec"]["template"]["spec"]["containers"][0]
    command = " ".join(job["command"])
    assert command.index("db upgrade") < command.index("dosewise_trainer.bootstrap")
    assert image_name(job) == "dosewise-trainer"  # the bootstrap is trainer code


# --- hardening ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", (*OVERLAYS, *JOBS))
def test_every_container_is_hardened_and_bounded(target: str) -> None:
    docs = render(target)
    for workload, spec, c in containers(docs):
        where = f"{target}: {workload['metadata']['name']}/{c['name']}"
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0 and pod["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False, where
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True, where
        assert sc["runAsNonRoot"] is True and sc["capabilities"] == {"drop": ["ALL"]}, where
        assert "privileged" not in sc and "add" not in sc["capabilities"]
        empty_dirs = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        assert any(m["mountPath"] == "/tmp" and m["name"] in empty_dirs for m in c["volumeMounts"]), where
        res = c["resources"]
        assert {"cpu", "memory"} <= set(res["requests"]) and {"cpu", "memory"} <= set(res["limits"]), where


# --- replicas, autoscaling, disruption budgets, ingress -----------------------------------------------------------------
def test_prod_runs_two_or_more_gateways_and_inferences_autoscaled_and_budgeted() -> None:
    docs = render("overlays/prod")
    deployments, hpas, pdbs = kind(docs, "Deployment"), kind(docs, "HorizontalPodAutoscaler"), kind(docs, "PodDisruptionBudget")
    for name in ("dosewise-gateway", "dosewise-inference"):
        assert deployments[name]["spec"]["replicas"] >= 2
        [hpa] = [h for h in hpas.values() if h["spec"]["scaleTargetRef"]["name"] == name]
        assert hpa["apiVersion"] == "autoscaling/v2" and hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        [pdb] = [p for p in pdbs.values() if p["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]  # a drain can always proceed
    for c in (c for _, _, c in containers(docs)):
        repo, _, tag = c["image"].rpartition(":")
        assert "/" in repo and tag and tag != "latest", c["image"]  # a registry and a release tag


def test_dev_runs_one_of_each_without_autoscaler_budget_or_tls() -> None:
    docs = render("overlays/dev")
    assert all(d["spec"]["replicas"] == 1 for d in kind(docs, "Deployment").values())
    assert not kind(docs, "HorizontalPodAutoscaler") and not kind(docs, "PodDisruptionBudget")
    assert "tls" not in kind(docs, "Ingress")["dosewise-gateway"]["spec"]


def test_prod_runs_two_trainers_spread_over_nodes_and_budgeted() -> None:
    """Every trainer pod consumes its share of the outcome stream (its own consumer in the group, named after the pod) and
    they retrain by turns under the lease the code holds, so prod runs two, and a drain always leaves one consuming."""
    docs = render("overlays/prod")
    trainer = kind(docs, "Deployment")["dosewise-trainer"]
    replicas, labels = trainer["spec"]["replicas"], trainer["spec"]["template"]["metadata"]["labels"]
    assert replicas >= 2
    [pdb] = [p for p in kind(docs, "PodDisruptionBudget").values()
             if p["spec"]["selector"]["matchLabels"].items() <= labels.items()]
    assert 1 <= pdb["spec"]["minAvailable"] < replicas  # one keeps consuming, and a drain can always proceed
    [spread] = trainer["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname" and spread["labelSelector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("target", OVERLAYS)
def test_trainers_roll_because_the_retraining_lease_keeps_one_retraining_at_a_time(target: str) -> None:
    """A rolling update runs old and new trainer pods side by side, all with DOSEWISE_RETRAIN on: safe because the
    scheduler retrains only under the database lease (dosewise_trainer/lease.py; tests/integration/test_leases.py shows
    that two replicas at once train one candidate). No autoscaler: retraining's CPU says nothing about the backlog."""
    from dosewise_trainer import retrain
    from dosewise_trainer.lease import DatabaseLease

    docs = render(target)
    trainer = kind(docs, "Deployment")["dosewise-trainer"]["spec"]
    assert trainer["strategy"]["type"] == "RollingUpdate"
    assert not [h for h in kind(docs, "HorizontalPodAutoscaler").values()
                if h["spec"]["scaleTargetRef"]["name"] == "dosewise-trainer"]
    scheduler = retrain.RetrainScheduler(Settings(), None, None)  # type: ignore[arg-type]  # no database: only its lease
    assert isinstance(scheduler.lease, DatabaseLease) and scheduler.lease.name == retrain.RETRAIN_LEASE
    readme = (DEPLOY / "README.md").read_text()
    assert "`leases`" in readme and "`DOSEWISE_RETRAIN_LEASE_TTL_S`" in readme  # "Scale" says what keeps one retraining


def test_prod_ingress_serves_the_gateway_api_over_tls_and_keeps_metrics_and_probes_inside() -> None:
    docs = render("overlays/prod")
    [ingress] = kind(docs, "Ingress").values()
    [rule] = ingress["spec"]["rules"]
    assert ingress["spec"]["tls"] == [{"hosts": [rule["host"]], "secretName": "dosewise-tls"}]
    backends = {p["backend"]["service"]["name"] for p in rule["http"]["paths"]}
    assert backends == {"dosewise-gateway"}

    def exposed(path: str) -> bool:
        return any(path == p["path"] if p["pathType"] == "Exact" else path == p["path"] or path.startswith(p["path"] + "/")
                   for p in rule["http"]["paths"])

    api = routes("api")
    assert all(exposed(p) for p in api if p.startswith("/v1/") or p in ("/docs", "/redoc", "/openapi.json"))
    assert not any(exposed(p) for p in ("/metrics", "/readyz", "/healthz"))
    limit = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert limit == f"{Settings.model_fields['max_body_bytes'].default // 2**20}m"  # what the gateway itself accepts


def test_the_shared_policy_volume_is_read_write_many_in_prod() -> None:
    [pvc] = kind(render("overlays/prod"), "PersistentVolumeClaim").values()
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]  # trainer, setup and inference replicas on several nodes


# --- network policies ---------------------------------------------------------------------------------------------------
def _selects(selector: Doc, labels: dict[str, str]) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for e in selector.get("matchExpressions", []):
        assert e["operator"] == "In", e
        if labels.get(e["key"]) not in e["values"]:
            return False
    return True


def _rules(docs: tuple[Doc, ...], labels: dict[str, str], direction: str) -> list[Doc]:
    key = direction.lower()
    return [r for p in kind(docs, "NetworkPolicy").values() if direction in p["spec"]["policyTypes"]
            and _selects(p["spec"]["podSelector"], labels) for r in p["spec"].get(key, [])]


def _ports(rule: Doc) -> set[tuple[str, int]]:
    return {(p.get("protocol", "TCP"), p["port"]) for p in rule["ports"]}


PROMETHEUS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
              "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}
KUBE_DNS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}


def _labels(docs: tuple[Doc, ...]) -> dict[str, dict[str, str]]:
    return {name: t["metadata"]["labels"] for name, t in ((w["metadata"]["name"], t) for w, t in pod_templates(docs))}


@pytest.mark.parametrize("target", OVERLAYS)
def test_everything_is_denied_unless_allowed(target: str) -> None:
    policies = kind(render(target), "NetworkPolicy").values()
    assert any(p["spec"]["podSelector"] == {} and sorted(p["spec"]["policyTypes"]) == ["Egress", "Ingress"]
               and not p["spec"].get("ingress") and not p["spec"].get("egress") for p in policies)
    for p in policies:  # no rule opens everything: each names its peers and its ports
        for rule in p["spec"].get("ingress", []) + p["spec"].get("egress", []):
            assert rule.get("from", rule.get("to")) and rule.get("ports"), p["metadata"]["name"]


@pytest.mark.parametrize("target", OVERLAYS)
def test_only_the_gateway_is_reachable_from_outside(target: str) -> None:
    docs = render(target)
    metrics_port = {"dosewise-gateway": 8000, "dosewise-inference": 8001, "dosewise-trainer": 8002}
    for name, labels in _labels(docs).items():
        for rule in _rules(docs, labels, "Ingress"):
            for peer in rule["from"]:
                assert "ipBlock" not in peer, f"{name}: reachable from addresses outside the cluster"
                if peer == PROMETHEUS:
                    assert _ports(rule) == {("TCP", metrics_port[name])}, f"{name}: Prometheus beyond metrics"
                elif "namespaceSelector" in peer:  # another namespace: the ingress controller's, for the gateway only
                    assert name == "dosewise-gateway", f"{name} is reachable from namespace {peer['namespaceSelector']}"
                    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "ingress-nginx"}
                    assert _ports(rule) == {("TCP", 8000)}
                else:  # a pod of this namespace: only the gateway, only to inference
                    assert name == "dosewise-inference" and _selects(peer["podSelector"], _labels(docs)["dosewise-gateway"])
    assert not _rules(docs, _labels(docs)["dosewise-setup"], "Ingress")


@pytest.mark.parametrize("target", OVERLAYS)
def test_only_the_gateway_reaches_inference(target: str) -> None:
    docs = render(target)
    labels = _labels(docs)
    rules = _rules(docs, labels["dosewise-inference"], "Ingress")
    from_pods = [r for r in rules for peer in r["from"] if peer != PROMETHEUS]
    assert from_pods and all(_selects(p["podSelector"], labels["dosewise-gateway"]) and "namespaceSelector" not in p
                             for r in from_pods for p in r["from"])
    assert {port for r in from_pods for port in _ports(r)} == {("TCP", 8001)}
    for other in ("dosewise-trainer", "dosewise-setup"):  # pods of this namespace that must not call it
        assert not any(_selects(p.get("podSelector", {"matchLabels": {"x": "no"}}), labels[other])
                       for r in from_pods for p in r["from"])
    gateway_out = _rules(docs, labels["dosewise-gateway"], "Egress")
    assert any(_selects(p.get("podSelector", {"matchLabels": {"x": "no"}}), labels["dosewise-inference"])
               and _ports(r) == {("TCP", 8001)} for r in gateway_out for p in r["to"])


@pytest.mark.parametrize("target", OVERLAYS)
def test_the_trainer_talks_to_postgresql_redis_and_dns_only(target: str) -> None:
    docs = render(target)
    allowed = set()
    for rule in _rules(docs, _labels(docs)["dosewise-trainer"], "Egress"):
        for peer in rule["to"]:
            if peer == KUBE_DNS:
                assert _ports(rule) == {("UDP", 53), ("TCP", 53)}
                allowed.add("dns")
            else:
                assert set(peer) == {"ipBlock"} and _ports(rule) in ({("TCP", 5432)}, {("TCP", 6379)}), rule
                allowed.add(next(iter(_ports(rule)))[1])
                cidr = ipaddress.ip_network(peer["ipBlock"]["cidr"])
                if target == "overlays/prod":
                    assert cidr.prefixlen > 0, "prod: the datastores' addresses, not the whole internet"
    assert allowed == {"dns", 5432, 6379}


# --- the Indexed Job of `make policies` ---------------------------------------------------------------------------------
def test_the_policy_build_job_runs_every_part_of_ship_and_the_gather_reads_them() -> None:
    from dosewise_trainer import ship

    [parts] = kind(render("jobs/policies"), "Job").values()
    [gather] = kind(render("jobs/policies-gather"), "Job").values()
    assert parts["spec"]["completionMode"] == "Indexed"
    assert parts["spec"]["completions"] == ship.part_count(ship.SHIPPED_THERAPIES, ship.CV_FOLDS)
    p = parts["spec"]["template"]["spec"]["containers"][0]
    g = gather["spec"]["template"]["spec"]["containers"][0]
    assert p["command"] == g["command"] == ["python", "-m", "dosewise_trainer.ship"]  # what `make policies` runs
    index_env = next(e for e in p["env"] if e["name"] == "JOB_COMPLETION_INDEX")
    assert "job-completion-index" in index_env["valueFrom"]["fieldRef"]["fieldPath"]
    assert p["args"][:2] == ["--part", "$(JOB_COMPLETION_INDEX)"] and g["args"][0] == "--gather"
    work = p["args"][p["args"].index("--work") + 1]
    assert g["args"][g["args"].index("--work") + 1] == work
    claim = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in parts["spec"]["template"]["spec"]["volumes"]
             if "persistentVolumeClaim" in v}
    mounted = {m["mountPath"]: claim[m["name"]] for m in p["volumeMounts"] if m["name"] in claim}
    [(root, pvc)] = mounted.items()
    assert work.startswith(root + "/") and pvc == "dosewise-policy-build"
    policy_dir = next(e["value"] for e in g["env"] if e["name"] == "DOSEWISE_POLICY_DIR")
    assert policy_dir.startswith(root + "/") and not policy_dir.startswith(work)
    assert kind(render("jobs/policies"), "PersistentVolumeClaim")[pvc]["spec"]["accessModes"] == ["ReadWriteMany"]


# --- ServiceMonitors (custom resources: checked here, not by kubernetes-validate) ---------------------------------------
def test_servicemonitors_select_services_with_the_named_metrics_port() -> None:
    docs = render(WITH_SERVICEMONITORS)
    monitors = kind(docs, "ServiceMonitor")
    assert set(monitors) == {"dosewise-gateway", "dosewise-inference", "dosewise-trainer"}
    services = kind(docs, "Service")
    for name, m in monitors.items():
        assert m["apiVersion"] == "monitoring.coreos.com/v1" and set(m["spec"]) == {"selector", "endpoints"}
        selected = [s for s in services.values()
                    if m["spec"]["selector"]["matchLabels"].items() <= s["metadata"].get("labels", {}).items()]
        assert len(selected) == 1, f"{name} selects {[s['metadata']['name'] for s in selected]}"
        [endpoint] = m["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics" and set(endpoint) <= {"port", "path", "interval"}
        assert endpoint["port"] in {p["name"] for p in selected[0]["spec"]["ports"]}
        assert re.fullmatch(r"\d+s", endpoint["interval"])


# --- deploy/README.md uses the real commands ----------------------------------------------------------------------------
def test_every_dosewise_command_in_the_deploy_readme_exists_with_its_options() -> None:
    from typer.testing import CliRunner

    from dosewise.cli.main import app

    blocks = re.findall(r"```sh\n(.*?)```", (DEPLOY / "README.md").read_text(), re.S)
    commands = [m.group(1).split() for b in blocks for m in re.finditer(r"(?:^|-- )dosewise ([^\n#|]*)", b, re.M)]
    assert len(commands) >= 6, commands
    runner = CliRunner()
    for words in commands:
        path = [w for w in words if not w.startswith("-")][:2]
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, f"`dosewise {' '.join(path)}`: {result.output}"
        for option in (w for w in words if w.startswith("--")):
            assert option in result.output, f"`dosewise {' '.join(path)}` has no {option}"
