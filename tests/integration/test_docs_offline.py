"""/docs and /redoc work on a network without internet access: every script, style sheet and icon they load comes from the
gateway itself (dosewise_api/static, vendored from npm), and nothing on the pages names another host."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dosewise.settings import Settings
from dosewise_api.app import create_app

ROOT = Path(__file__).resolve().parents[2]
PAGES = ("/docs", "/redoc")
CONTENT_TYPES = {".js": ("text/javascript", "application/javascript"), ".css": ("text/css",), ".png": ("image/png",)}
ABSOLUTE_URL = re.compile(r"(?:https?:)?//([A-Za-z0-9.-]+)")


class Assets(HTMLParser):
    """The URLs a page makes the browser fetch: scripts, style sheets, icons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        url = a.get("src") if tag in ("script", "img") else a.get("href") if tag == "link" else None
        if url:
            self.urls.append(url)


def assets(html: str) -> list[str]:
    parser = Assets()
    parser.feed(html)
    return parser.urls


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    db = tmp_path_factory.mktemp("docs") / "dosewise.db"
    # No lifespan (no `with`): the docs pages need neither the database nor inference.
    return TestClient(create_app(Settings(DATABASE_URL=f"sqlite+aiosqlite:///{db}")))


@pytest.mark.parametrize("page", PAGES)
def test_the_page_names_no_other_host(client: TestClient, page: str) -> None:
    r = client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    hosts = set(ABSOLUTE_URL.findall(r.text))
    assert not hosts, f"{page} loads from {sorted(hosts)}"
    csp = r.headers["content-security-policy"]
    assert "http" not in csp and "script-src 'self' 'unsafe-inline'" in csp  # nor would a browser fetch from one


@pytest.mark.parametrize("page", PAGES)
def test_every_asset_the_page_loads_is_served_here_with_its_type(client: TestClient, page: str) -> None:
    urls = assets(client.get(page).text)
    assert any(u.endswith(".js") for u in urls) and any(u.endswith(".png") for u in urls), urls
    for url in urls:
        assert url.startswith("/docs/static/"), url
        r = client.get(url)
        assert r.status_code == 200, url
        assert r.headers["content-type"].split(";")[0] in CONTENT_TYPES[Path(url).suffix], (url, r.headers["content-type"])
        assert r.headers["x-content-type-options"] == "nosniff" and len(r.content) > 500


def test_swagger_ui_gets_its_css_and_sends_the_document_to_no_validator(client: TestClient) -> None:
    html = client.get("/docs").text
    assert "/docs/static/swagger-ui/swagger-ui.css" in assets(html)
    assert '"validatorUrl": null' in html


def test_redoc_loads_no_web_fonts(client: TestClient) -> None:
    html = client.get("/redoc").text
    assert "fonts.googleapis" not in html and "@import" not in html


def test_the_oauth2_redirect_page_is_still_served(client: TestClient) -> None:
    r = client.get("/docs/oauth2-redirect")
    assert r.status_code == 200 and "oauth2" in r.text.lower()


def test_behind_a_path_prefix_every_asset_url_carries_it(tmp_path: Path) -> None:
    app = create_app(Settings(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'dosewise.db'}"))
    prefixed = TestClient(app, root_path="/dosewise")
    for page in PAGES:
        urls = assets(prefixed.get(page).text)
        assert urls and all(u.startswith("/dosewise/docs/static/") for u in urls), urls


def test_a_missing_asset_is_a_404(client: TestClient) -> None:
    assert client.get("/docs/static/swagger-ui/no-such-file.js").status_code == 404
    assert client.get("/docs/static/../docs.py").status_code == 404


def test_the_built_wheel_carries_the_assets_and_their_licences(tmp_path: Path) -> None:
    src = tmp_path / "src"  # a copy: setuptools leaves build/ and *.egg-info in the tree it builds
    shutil.copytree(ROOT / "services" / "api", src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path),
                    str(src)], check=True, capture_output=True)
    [wheel] = tmp_path.glob("dosewise_api-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in ("swagger-ui/swagger-ui-bundle.js", "swagger-ui/swagger-ui.css", "swagger-ui/favicon-32x32.png",
              "swagger-ui/LICENSE", "swagger-ui/NOTICE", "redoc/redoc.standalone.js", "redoc/LICENSE"):
        assert f"dosewise_api/static/{f}" in names, f
