"""RFC 9457 problem details, built from domain errors without any web framework (services render them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

PROBLEM_JSON = "application/problem+json"
_BASE = "https://dosewise.dev/problems/"


def problem(status: int, title: str, detail: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": _BASE + kind, "title": title, "status": status, "detail": detail, **extra}


def _allowed(err: Mapping[str, Any]) -> str | None:
    ctx = err.get("ctx") or {}
    if "expected" in ctx:
        return f"one of {ctx['expected']}"
    bounds = [f"{k.replace('_', ' ')} {ctx[k]}" for k in ("ge", "gt", "le", "lt", "min_length", "max_length") if k in ctx]
    if bounds:
        return ", ".join(bounds)
    if "pattern" in ctx:
        return f"matching {ctx['pattern']}"
    return None


def validation_problem(errors: Iterable[Mapping[str, Any]], strip_prefix: tuple[str, ...] = ("body",)) -> dict[str, Any]:
    """422 with one entry per bad field: its JSON path, what was wrong, and what is allowed (when known)."""
    entries = []
    for e in errors:
        loc = list(e.get("loc", ()))
        if loc and loc[0] in strip_prefix:
            loc = loc[1:]
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        if e.get("type") == "json_invalid":  # its location is a character offset into the body, not a field
            at = f" at character {loc[-1]}" if loc and isinstance(loc[-1], int) else ""
            loc, msg = [], f"the body is not valid JSON{at}: {(e.get('ctx') or {}).get('error', msg)}"
        entry: dict[str, Any] = {"field": ".".join(str(p) for p in loc) or "(body)", "path": loc, "message": msg,
                                 "type": e.get("type")}
        allowed = _allowed(e)
        if allowed:
            entry["allowed"] = allowed
        entries.append(entry)
    fields = ", ".join(x["field"] for x in entries)
    count = "1 invalid field" if len(entries) == 1 else f"{len(entries)} invalid fields"
    return problem(422, "Invalid request", f"{count}: {fields}", "validation", errors=entries)
