"""The clinician UI in a real browser: Debian's Chromium (``make browser`` installs it) driven by Playwright for Python, with
``executable_path`` pointing at it (Playwright's own browser download is never used), against a real stack (tests/e2e).

Fixtures written here rather than pytest-playwright's (which expects its downloaded browsers). Every page a test visits can
be checked with axe-core (``axe``) and saved as a screenshot under var/ui-screenshots (git-ignored).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI
from tests.e2e.conftest import Stack, _stack

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[3]
AXE_JS = REPO / "services/api/frontend/node_modules/axe-core/axe.min.js"  # make ui-assets (npm ci) puts it there
SCREENSHOTS = REPO / "var" / "ui-screenshots"
WIDE, NARROW = {"width": 1280, "height": 900}, {"width": 390, "height": 844}


def _missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} (CI=true: the browser tests fail instead of skipping)")
    pytest.skip(what)


@pytest.fixture(scope="module")
def ui_stack(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Gateway and inference on the machine's PostgreSQL, one API key per role."""
    yield from _stack(pg_url, tmp_path_factory.mktemp("ui-stack"))


@pytest.fixture(scope="module")
def browser(ui_stack: Stack) -> Iterator[Any]:
    """Headless Chromium for one module. After the stack (its setup runs asyncio.run, which cannot run inside the event loop
    Playwright's sync API keeps on this thread) and closed before it."""
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    if not AXE_JS.exists():
        _missing(f"{AXE_JS} is missing: `make ui-assets` installs it")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (requirements-dev.txt)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                              args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


class Ui:
    """A browser context of one signed-in role: the page, and what the page logged (console errors, CSP violations)."""

    def __init__(self, browser: Any, stack: Stack, viewport: dict[str, int]) -> None:
        self.stack = stack
        self.context = browser.new_context(viewport=viewport, base_url=stack.api)
        self.page = self.context.new_page()
        self.console_errors: list[str] = []
        self.page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)

    def sign_in(self, role: str) -> None:
        token = self.stack.headers[role]["Authorization"].removeprefix("Bearer ")
        self.page.goto("/ui/sign-in")
        self.page.get_by_label("API key").fill(token)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_load_state()

    def axe(self) -> list[dict[str, Any]]:
        """The serious and critical accessibility violations of the current page (axe-core, WCAG 2.x A/AA rules)."""
        self.page.evaluate(AXE_JS.read_text() + "\n;0")  # evaluated through DevTools: the page's CSP does not apply to it
        result = self.page.evaluate("""async () => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                                                             'wcag22aa', 'best-practice']}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                           nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
        }""")
        return [v for v in result if v["impact"] in ("serious", "critical")]

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        width = self.page.viewport_size["width"] if self.page.viewport_size else 0
        path = SCREENSHOTS / f"{name}-{width}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def storage(self) -> dict[str, int]:
        return self.page.evaluate("() => ({local: localStorage.length, session: sessionStorage.length})")

    def close(self) -> None:
        self.context.close()


@pytest.fixture()
def ui(browser: Any, ui_stack: Stack) -> Iterator[Ui]:
    u = Ui(browser, ui_stack, WIDE)
    yield u
    u.close()


@pytest.fixture()
def narrow_ui(browser: Any, ui_stack: Stack) -> Iterator[Ui]:
    u = Ui(browser, ui_stack, NARROW)
    yield u
    u.close()


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1)


os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
