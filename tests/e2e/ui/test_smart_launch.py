"""SMART App Launch 2.2 from an EHR into the clinician UI, against the suite's own authorization server on a loopback port
(smart_server.py): launch + iss, discovery, authorization code with PKCE S256, the EHR's token as the session, the launch's
patient opened."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from dosewise.privacy import pseudonymize
from tests.e2e.conftest import Stack, _stack
from tests.e2e.ui.conftest import Ui
from tests.e2e.ui.smart_server import CLIENT_ID, SmartServer
from tests.e2e.ui.test_clinician_ui import assert_accessible
from tests.jwt_issuer import TestIssuer

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(300)]
PATIENT = "smart-pt-0042"


@pytest.fixture(scope="module")
def smart_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmartServer]:
    server = SmartServer(TestIssuer(Path(tmp_path_factory.mktemp("smart-idp"))), patient=PATIENT, roles=["clinician"])
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ui_stack(pg_url: str, tmp_path_factory: pytest.TempPathFactory, smart_server: SmartServer) -> Iterator[Stack]:
    """The stack of this module: a gateway that trusts the authorization server's tokens and lets its FHIR base launch."""
    env = smart_server.issuer.env() | {"DOSEWISE_SMART_CLIENT_ID": CLIENT_ID, "DOSEWISE_SMART_ISSUERS": smart_server.iss}
    yield from _stack(pg_url, tmp_path_factory.mktemp("ui-smart-stack"), extra_env=env)


def test_an_ehr_launch_signs_in_with_pkce_and_opens_the_patients_course(ui: Ui, smart_server: SmartServer) -> None:
    ui.page.goto(f"/ui/launch?iss={quote(smart_server.iss)}&launch=ehr-context-1")
    ui.page.wait_for_url("**/ui/patients/**")
    pseudonym = ui.page.url.split("/ui/patients/")[1].split("?")[0]
    assert pseudonym == pseudonymize(PATIENT, ui.stack.env.get("DOSEWISE_PSEUDONYM_KEY") or _default_key())
    assert ui.page.locator("#launched").is_visible() and ui.page.locator("#no-course").is_visible()
    [asked] = smart_server.authorizations
    assert asked["code_challenge_method"] == "S256" and asked["aud"] == smart_server.iss and asked["launch"] == "ehr-context-1"
    assert len(smart_server.exchanges) == 1  # the token endpoint saw the verifier of that challenge
    cookies = {c["name"]: c for c in ui.context.cookies()}
    assert cookies["dosewise_ui"]["httpOnly"] and cookies["dosewise_ui"]["sameSite"] == "Strict"
    assert "dosewise_ui_smart" not in cookies  # the launch's state is gone once used
    ui.page.goto("/ui/dose")  # the EHR's token is a working session with its clinician role
    assert ui.page.get_by_role("heading", level=1).inner_text() == "Dose decision"
    assert_accessible(ui, "smart-launch-course")


def test_a_launch_from_an_ehr_not_listed_is_refused_without_contacting_it(ui: Ui, smart_server: SmartServer) -> None:
    before = len(smart_server.authorizations)
    response = ui.page.goto("/ui/launch?iss=" + quote("http://127.0.0.1:9/fhir") + "&launch=x")
    assert response is not None and response.status == 403
    assert ui.page.get_by_role("heading", level=1).inner_text() == "EHR launch failed"
    assert len(smart_server.authorizations) == before


def test_a_callback_this_browser_did_not_start_is_refused(ui: Ui) -> None:
    response = ui.page.goto("/ui/launch/callback?code=stolen&state=guessed")
    assert response is not None and response.status == 400
    assert "not one this browser started" in ui.page.get_by_role("alert").inner_text()


def _default_key() -> str:
    from dosewise.settings import Settings

    return Settings(DOSEWISE_ENV="test").pseudonym_key
