"""The laptop stack (deploy/compose.yaml, deploy/prometheus.yml) read as Compose would read it — `docker compose config` is
not available here, so PyYAML parses it (anchors and merge keys included): every environment variable is a setting and
each service's environment makes valid settings that point at the other services; ports are the ones the services bind;
the start order waits on health and on the setup's completion; Prometheus scrapes exactly the three services' /metrics."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from tests.unit.deploy_helpers import ALIASES, DEPLOY, routes, settings_from

COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
OURS = {"gateway": "api", "inference": "inference", "trainer": "trainer", "setup": "trainer"}


def _port_of(service: str, monkeypatch: pytest.MonkeyPatch) -> int:
    s = settings_from(SERVICES[service]["environment"], monkeypatch)
    return {"gateway": s.api_port, "inference": s.inference_port, "trainer": s.trainer_metrics_port}[service]


@pytest.mark.parametrize("service", sorted(OURS))
def test_environment_is_settings_and_makes_valid_settings_pointing_at_the_stack(
        service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = SERVICES[service]["environment"]
    assert set(env) <= ALIASES, sorted(set(env) - ALIASES)
    assert all(isinstance(v, str) for v in env.values()), "Compose wants strings: a YAML number would be rejected"
    s = settings_from(env, monkeypatch)
    db, redis = urlparse(s.db_url), urlparse(s.redis_url or "")
    assert db.scheme == "postgresql+asyncpg" and db.hostname == "postgres" and db.port == 5432
    assert redis.hostname == "redis" and redis.port == 6379
    assert str(s.var_dir) == "/var/lib/dosewise" and str(s.policy_dir) == "/app/policies"
    assert f"deploy/docker/{OURS[service]}.Dockerfile" == SERVICES[service]["build"]["dockerfile"]
    assert SERVICES[service]["build"]["context"] == ".."  # the repository root, as the Dockerfiles expect


def test_the_gateway_reaches_inference_by_its_service_name_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    url = urlparse(settings_from(SERVICES["gateway"]["environment"], monkeypatch).inference_url)
    assert url.hostname == "inference" and url.port == _port_of("inference", monkeypatch)


def test_servers_bind_every_interface_on_their_ports_and_only_the_gateway_and_prometheus_are_published(
        monkeypatch: pytest.MonkeyPatch) -> None:
    hosts = {"gateway": "DOSEWISE_API_HOST", "inference": "DOSEWISE_INFERENCE_HOST", "trainer": "DOSEWISE_TRAINER_METRICS_HOST"}
    for service, variable in hosts.items():
        assert SERVICES[service]["environment"][variable] == "0.0.0.0"  # the default 127.0.0.1 is unreachable from others
    assert SERVICES["gateway"]["ports"] == [f"127.0.0.1:{_port_of('gateway', monkeypatch)}:{_port_of('gateway', monkeypatch)}"]
    assert SERVICES["inference"]["expose"] == [str(_port_of("inference", monkeypatch))]
    assert SERVICES["trainer"]["expose"] == [str(_port_of("trainer", monkeypatch))]
    published = {name for name, s in SERVICES.items() if s.get("ports")}
    assert published == {"gateway", "prometheus"}  # inference answers without authentication: never published
    assert all(p.startswith("127.0.0.1:") for s in SERVICES.values() for p in s.get("ports", []))


def test_start_order_waits_for_health_and_for_the_setup() -> None:
    for datastore in ("postgres", "redis"):
        assert SERVICES[datastore]["healthcheck"]["test"]
    assert SERVICES["setup"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert SERVICES["setup"]["restart"] == "no"
    command = " ".join(SERVICES["setup"]["command"])
    assert command.index("db upgrade") < command.index("dosewise_trainer.bootstrap")  # as `dosewise up`
    for service in ("gateway", "inference", "trainer"):
        deps = SERVICES[service]["depends_on"]
        assert deps["setup"] == {"condition": "service_completed_successfully"}
        assert deps["redis"] == {"condition": "service_healthy"}
        check = SERVICES[service]["healthcheck"]["test"]
        assert check == ["CMD", "python", "/app/healthcheck.py", OURS[service]]  # the image's own HEALTHCHECK
    assert SERVICES["gateway"]["depends_on"]["inference"] == {"condition": "service_healthy"}


def test_shared_policy_volume_is_written_by_trainer_and_setup_and_read_only_for_inference() -> None:
    mounts = {name: SERVICES[name]["volumes"] for name in ("setup", "trainer", "inference")}
    assert mounts["setup"] == mounts["trainer"] == ["var:/var/lib/dosewise"]
    assert mounts["inference"] == ["var:/var/lib/dosewise:ro"]
    assert "var" in COMPOSE["volumes"]


@pytest.mark.parametrize("service", sorted(OURS))
def test_our_containers_are_hardened_as_in_the_cluster(service: str) -> None:
    s = SERVICES[service]
    assert s["read_only"] is True and s["tmpfs"] == ["/tmp"] and s["cap_drop"] == ["ALL"]
    assert s["security_opt"] == ["no-new-privileges:true"]


def test_prometheus_scrapes_the_three_services_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    prometheus = SERVICES["prometheus"]
    assert "./prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    targets = {(job.get("metrics_path", "/metrics"), t) for job in config["scrape_configs"]
               for sc in job["static_configs"] for t in sc["targets"]}
    expected = {("/metrics", f"{name}:{_port_of(name, monkeypatch)}") for name in ("gateway", "inference", "trainer")}
    assert targets == expected
    assert "/metrics" in routes("api") and "/metrics" in routes("inference")
    assert set(prometheus["depends_on"]) == {"gateway", "inference", "trainer"}
