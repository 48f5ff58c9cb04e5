"""Service logs: JSON lines for a collector, readable lines for a person at a terminal (DOSEWISE_LOG_FORMAT), and in both
an exception's type but never its message (it may quote request data)."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import pytest
from pydantic import ValidationError

from dosewise.logs import ConsoleFormatter, JsonFormatter, resolve_format, worth_a_console_line
from dosewise.settings import Settings


def record(name: str, msg: str, *args: object, level: int = logging.INFO, exc: bool = False,
           **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("patient MRN 12345 in the message")
        except ValueError:
            exc_info = sys.exc_info()
    r = logging.LogRecord(name, level, __file__, 1, msg, args, exc_info)
    r.__dict__.update(extra)
    return r


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_console_at_a_terminal_and_json_anywhere_else() -> None:
    assert resolve_format("auto", Terminal()) == "console"
    assert resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format("json", Terminal()) == "json" and resolve_format("console", io.StringIO()) == "console"
    with pytest.raises(ValueError, match="auto, console or json"):
        resolve_format("yaml", io.StringIO())


def test_the_setting_takes_only_the_three_formats() -> None:
    assert Settings().log_format == "auto"
    assert Settings(DOSEWISE_LOG_FORMAT="json").log_format == "json"
    with pytest.raises(ValidationError):
        Settings(DOSEWISE_LOG_FORMAT="yaml")


def test_uvicorns_server_lines_are_not_named_as_errors() -> None:
    r = record("uvicorn.error", "Uvicorn running on %s", "http://127.0.0.1:8000")
    assert json.loads(JsonFormatter("api").format(r))["logger"] == "uvicorn"
    assert " uvicorn: Uvicorn running on http://127.0.0.1:8000" in ConsoleFormatter("api").format(r)
    assert "uvicorn.error" not in ConsoleFormatter("api").format(r)


def test_json_has_the_fields_a_collector_reads() -> None:
    out = json.loads(JsonFormatter("api").format(record("dosewise.api.access", "request", route="/v1/therapies",
                                                        status=200)))
    assert out["service"] == "api" and out["level"] == "info" and out["logger"] == "dosewise.api.access"
    assert out["msg"] == "request" and out["route"] == "/v1/therapies" and out["status"] == 200
    assert out["ts"].endswith("+00:00")  # UTC, to the millisecond


def test_a_console_line_reads_as_one_sentence_with_its_fields() -> None:
    line = ConsoleFormatter("inference").format(record("dosewise_inference.policy_store", "policy loaded",
                                                       therapy="warfarin", version="dqn-quick-seed1"))
    assert line.split(" ", 1)[1] == ("inference INFO    dosewise_inference.policy_store: policy loaded  therapy=warfarin  "
                                     "version=dqn-quick-seed1")
    assert "\x1b[" not in line
    warning = ConsoleFormatter("api", colour=True).format(record("x", "slow", level=logging.WARNING))
    assert "\x1b[33mWARNING\x1b[0m" in warning


@pytest.mark.parametrize("formatter", [JsonFormatter("api"), ConsoleFormatter("api")], ids=["json", "console"])
def test_an_exception_is_logged_by_its_type_only(formatter: logging.Formatter) -> None:
    text = formatter.format(record("dosewise.api", "request failed", level=logging.ERROR, exc=True))
    assert "ValueError" in text and "12345" not in text and "Traceback" not in text


def test_the_console_skips_routine_server_and_probe_lines_but_never_a_warning() -> None:
    skipped = [record("uvicorn.error", "Started server process [%d]", 4242),
               record("uvicorn.error", "Application startup complete."),
               record("uvicorn.error", "Finished server process [%d]", 4242),
               record("dosewise.api.access", "request", route="/readyz", status=503)]
    kept = [record("uvicorn.error", "Uvicorn running on %s", "http://127.0.0.1:8000"),
            record("uvicorn.error", "Shutting down"),
            record("uvicorn.error", "Invalid HTTP request received.", level=logging.WARNING),
            record("dosewise.api.access", "request", route="/v1/recommendations", status=200),
            record("dosewise.api.access", "request", route="/readyz", status=503, level=logging.WARNING)]
    assert [worth_a_console_line(r) for r in skipped] == [False] * len(skipped)
    assert [worth_a_console_line(r) for r in kept] == [True] * len(kept)


@pytest.mark.parametrize("fmt", ["json", "console", "auto"])
def test_configure_writes_the_chosen_format_to_stderr(fmt: str) -> None:
    code = (f"import logging; from dosewise.logs import configure; configure('api', 'INFO', {fmt!r}); "
            "logging.getLogger('uvicorn.error').info('Uvicorn running on %s', 'http://127.0.0.1:8000'); "
            "logging.getLogger('uvicorn.error').info('Application startup complete.')")
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr
    lines = err.splitlines()
    if fmt == "console":
        assert len(lines) == 1 and lines[0].endswith("api       INFO    uvicorn: Uvicorn running on http://127.0.0.1:8000")
    else:  # auto: stderr is a pipe here, so JSON, every line
        assert [json.loads(line)["msg"] for line in lines] == ["Uvicorn running on http://127.0.0.1:8000",
                                                               "Application startup complete."]


def test_loggers_made_before_configure_keep_logging_and_drivers_stay_quiet() -> None:
    # Every module makes its logger at import, before a service's main() configures logging (dictConfig would disable
    # them by default); a driver's statement logging stays off whatever the level.
    code = ("import logging; early = logging.getLogger('dosewise.api.auth'); from dosewise.logs import configure; "
            "configure('api', 'DEBUG', 'json'); early.warning('JWKS unavailable'); "
            "logging.getLogger('sqlalchemy.engine.Engine').info('SELECT … patient'); "
            "logging.getLogger('uvicorn.access').info('GET /v1/patients/x')")
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr
    assert [(r["logger"], r["msg"]) for r in map(json.loads, err.splitlines())] == [("dosewise.api.auth", "JWKS unavailable")]
