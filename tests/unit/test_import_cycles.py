"""No import cycles: the shared library and the services import in one direction only.

An AST walk over every first-party module (shared/dosewise and the three services) collects each ``import`` and ``from …
import`` wherever it stands: at module level, inside a function (a "late" import that hides a cycle from the module's
head) and under ``if TYPE_CHECKING:`` (a cycle of types is still two modules that need each other). A cycle is a strongly
connected component of more than one module; the test names its modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {  # import name → folder holding it
    "dosewise": ROOT / "shared",
    "dosewise_api": ROOT / "services" / "api",
    "dosewise_inference": ROOT / "services" / "inference",
    "dosewise_trainer": ROOT / "services" / "trainer",
}
# Cycles not yet broken, each with its reason; the test fails when one disappears, so the list cannot go stale.
KNOWN_CYCLES: dict[frozenset[str], str] = {
    frozenset({"dosewise_trainer.algorithms.dqn", "dosewise_trainer.algorithms.dqn_visits"}):
        "dqn.train dispatches to the visit learner, which reuses dqn's Args, ReplayBuffer and double_dqn_target",
}


def modules() -> dict[str, Path]:
    """Every first-party module's dotted name → its file (a package is its __init__.py)."""
    out = {}
    for package, folder in PACKAGES.items():
        for path in (folder / package).rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imported(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The first-party modules ``name`` imports: ``from pkg import sub`` counts as sub when sub is a module."""

    def module_of(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join([*here[: len(here) - node.level + 1], node.module or ""]).strip(".") if node.level else node.module
            if base is None:
                continue
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            if (found := module_of(target)) is not None and found != name:
                yield found


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[frozenset[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(frozenset(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: set(imported(name, path, known)) for name, path in known.items()}


def test_the_walk_sees_local_and_type_checking_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nimport pkg.a\nif TYPE_CHECKING:\n    from pkg.b import T\n\n\n"
                      "def f():\n    from pkg import c\n    from pkg.d import name\n")
    known = {name: tmp_path for name in ("pkg", "pkg.m", "pkg.a", "pkg.b", "pkg.c", "pkg.d")}
    assert sorted(imported("pkg.m", source, known)) == ["pkg.a", "pkg.b", "pkg.c", "pkg.d"]


def test_the_shared_library_has_no_import_cycle(graph: dict[str, set[str]]) -> None:
    shared = {m: {t for t in ts if t.split(".")[0] == "dosewise"} for m, ts in graph.items() if m.split(".")[0] == "dosewise"}
    assert [sorted(c) for c in cycles(shared)] == []


def test_the_shared_library_imports_no_service(graph: dict[str, set[str]]) -> None:
    upward = {m: sorted(t for t in ts if t.split(".")[0] != "dosewise")
              for m, ts in graph.items() if m.split(".")[0] == "dosewise"}
    assert {m: ts for m, ts in upward.items() if ts} == {}


def test_no_service_has_an_import_cycle_but_the_known_ones(graph: dict[str, set[str]]) -> None:
    found = set(cycles(graph))
    assert sorted(sorted(c) for c in found - set(KNOWN_CYCLES)) == []
    assert sorted(sorted(c) for c in set(KNOWN_CYCLES) - found) == [], "a known cycle is gone: remove it from KNOWN_CYCLES"


def test_the_cycle_finder_finds_a_cycle_and_only_it() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset({"a", "b", "c"})]
    assert cycles({"a": {"b"}, "b": set()}) == []
