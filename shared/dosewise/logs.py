"""Logs for every service: JSON lines for a log collector, or readable lines for a person at a terminal
(DOSEWISE_LOG_FORMAT: json, console, or auto = console when stderr is a terminal). Log events and ids, never patient data:
callers pass pseudonymized references only, and neither format writes an exception's message or traceback.
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

QUIET_LOGGERS = ("aiosqlite", "asyncpg", "sqlalchemy.engine", "sqlalchemy.pool", "httpcore", "hpack", "multipart")
_STD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName", "color_message"}
# uvicorn logs its server's life (started, listening on, shutting down) as "uvicorn.error", at INFO: no error at all.
LOGGER_NAMES = {"uvicorn.error": "uvicorn"}
# Dropped from console logs only (JSON keeps every line for the operator): what uvicorn says at every start and stop that
# tells a person nothing `dosewise up` does not (its URL line and "Shutting down" stay; matched on the unformatted message),
# and the access lines of the probes, which `dosewise up` itself polls at start-up.
CONSOLE_SKIP = frozenset({"Started server process [%d]", "Waiting for application startup.", "Application startup complete.",
                          "Waiting for application shutdown.", "Application shutdown complete.", "Finished server process [%d]"})
PROBE_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


def logger_name(record: logging.LogRecord) -> str:
    return LOGGER_NAMES.get(record.name, record.name)


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in record.__dict__.items() if k not in _STD}


def _error(record: logging.LogRecord) -> str | None:
    """The exception's type only: messages and tracebacks may quote request data."""
    if record.exc_info and record.exc_info[0] is not None:
        return record.exc_info[0].__name__
    return None


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": logger_name(record),
            "msg": record.getMessage(),
        }
        out.update(_extras(record))
        if (error := _error(record)) is not None:
            out["error"] = error
        return json.dumps(out, default=str)


_LEVEL_COLOURS = {"WARNING": "\x1b[33m", "ERROR": "\x1b[31m", "CRITICAL": "\x1b[1;31m"}


class ConsoleFormatter(logging.Formatter):
    """``14:02:07 api       WARNING uvicorn: message  key=value …`` in local time; the level in colour on a terminal."""

    def __init__(self, service: str, colour: bool = False) -> None:
        super().__init__()
        self.service, self.colour = service, colour

    def format(self, record: logging.LogRecord) -> str:
        level = record.levelname
        if self.colour and level in _LEVEL_COLOURS:
            level = f"{_LEVEL_COLOURS[level]}{level}\x1b[0m"
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        fields = _extras(record)
        if (error := _error(record)) is not None:
            fields["error"] = error
        tail = "".join(f"  {k}={v}" for k, v in fields.items())
        return f"{when} {self.service:<9} {level:<7} {logger_name(record)}: {record.getMessage()}{tail}"


def worth_a_console_line(record: logging.LogRecord) -> bool:
    """False for the routine lines above; never for a warning or an error."""
    if record.levelno > logging.INFO:
        return True
    if record.name == "uvicorn.error":
        return record.msg not in CONSOLE_SKIP
    return not (record.name.endswith(".access") and getattr(record, "route", None) in PROBE_ROUTES)


def resolve_format(fmt: str, stream: TextIO) -> Literal["console", "json"]:
    """``auto`` is console at a terminal and JSON anywhere else (a file, a pipe, a container's log collector)."""
    if fmt not in ("auto", "console", "json"):
        raise ValueError(f"log format {fmt!r}: expected auto, console or json")
    if fmt == "auto":
        return "console" if stream.isatty() else "json"
    return "console" if fmt == "console" else "json"


def logging_config(service: str, level: str = "INFO", fmt: str = "auto") -> dict[str, Any]:
    """The ``logging.config.dictConfig`` schema of a service: every logger (uvicorn's included) through one handler on
    stderr, in ``fmt`` (DOSEWISE_LOG_FORMAT)."""
    console = resolve_format(fmt, sys.stderr) == "console"
    formatter: dict[str, Any] = ({"()": ConsoleFormatter, "service": service, "colour": sys.stderr.isatty()} if console
                                 else {"()": JsonFormatter, "service": service})
    handler: dict[str, Any] = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "line"}
    if console:
        handler["filters"] = ["routine"]
    # Whatever the level: drivers that log statements with their parameters (or HTTP traffic) at DEBUG/INFO would write
    # request content, free text included, into the logs (found by tests/e2e/test_log_scan.py at DEBUG).
    loggers: dict[str, dict[str, Any]] = {name: {"level": "WARNING"} for name in QUIET_LOGGERS}
    loggers |= {
        # uvicorn's loggers lose the handlers it gives them and reach the root's, so they share the format
        "uvicorn": {"handlers": [], "propagate": True},
        "uvicorn.error": {"handlers": [], "propagate": True},
        "uvicorn.access": {"handlers": [], "propagate": True, "level": "WARNING"},  # URLs may carry identifiers
        "httpx": {"level": "WARNING"},  # one line per gateway→inference call is noise
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,  # loggers made at import time (every module's ``log``) keep logging
        "formatters": {"line": formatter},
        "filters": {"routine": {"()": lambda: worth_a_console_line}},
        "handlers": {"stderr": handler},
        "loggers": loggers,
        "root": {"handlers": ["stderr"], "level": level.upper()},
    }


def configure(service: str, level: str = "INFO", fmt: str = "auto") -> None:
    """Apply ``logging_config``: once, at a service's start."""
    logging.config.dictConfig(logging_config(service, level, fmt))
