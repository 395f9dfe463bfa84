"""LOG_FORMAT=json: every line on stderr is one JSON object with the time, level, message,
correlation id, route, and the principal once the gate resolved one; each request writes an
access line. No line carries a credential, whatever kind the requests presented."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from app.ops import logs
from tests.support.factories import PASSWORD
from tests.support.http import api_key, bearer
from tests.support.oauth import authorize, exchange_code, refresh
from tests.support.sure import LOGIN, REFRESH, login_body
from tests.support.web import login

pytestmark = pytest.mark.config(LOG_FORMAT="json")


@pytest.fixture(autouse=True)
def _json_handler_removed() -> Iterator[None]:
    yield
    logs.uninstall()  # later tests' apps log as the deployer (here: pytest) set up


def lines(captured: str) -> list[dict[str, Any]]:
    """Every non-empty stderr line, parsed (fails on any line that is not one JSON object)."""
    return [json.loads(line) for line in captured.splitlines() if line.strip()]


def test_each_request_writes_one_json_access_line(app, client, capsys):
    capsys.readouterr()
    response = client.get("/healthz", headers={"X-Correlation-ID": "probe-123"})
    entries = lines(capsys.readouterr().err)
    access = [e for e in entries if e["logger"] == "app.access"]
    assert len(access) == 1
    (entry,) = access
    assert entry["route"] == "ops.healthz"
    assert entry["status"] == 200
    assert entry["method"] == "GET"
    assert entry["level"] == "INFO"
    assert entry["correlation_id"] == "probe-123" == response.headers["X-Correlation-ID"]
    assert entry["time"].endswith("+00:00")
    assert isinstance(entry["duration_ms"], float)
    assert "principal_kind" not in entry  # nobody authenticated


def test_access_line_names_the_principal_never_the_path(app, client, user, make_key, capsys):
    key = make_key(user)
    capsys.readouterr()
    assert client.get("/api/v1/accounts/not-an-id", headers=api_key(key)).status_code in {
        400,
        404,
    }
    (entry,) = [e for e in lines(capsys.readouterr().err) if e["logger"] == "app.access"]
    assert entry["principal_kind"] == "api_key"
    assert entry["user_id"] == str(user.id)
    assert entry["principal_id"]
    assert entry["route"].startswith("resources.")
    assert "not-an-id" not in json.dumps(entry)


def test_warnings_of_the_app_are_json_too(app, capsys):
    capsys.readouterr()
    with app.test_request_context("/x"):
        logging.getLogger("app.ops.test").warning("disk %s", "low")
    (entry,) = lines(capsys.readouterr().err)
    assert entry["message"] == "disk low"
    assert entry["level"] == "WARNING"


def test_no_json_line_carries_a_credential(app, client, user, make_key, make_client, capsys):
    """Requests with every credential kind, at DEBUG (Authlib logs issued tokens there)."""
    logging.getLogger().setLevel(logging.DEBUG)  # restored by the fixture's uninstall
    secrets: dict[str, str] = {"password": PASSWORD}
    key = make_key(user)
    secrets["api_key"] = key
    web = make_client(name="Logged App")
    secrets["client_secret"] = web.client_secret or ""
    assert login(client, user.email, user.password).status_code == 302
    auth = authorize(client, web, scope="read_write")
    secrets["code"], secrets["code_verifier"] = auth.code, auth.verifier
    issued = exchange_code(client, web, auth).get_json()
    secrets["access_token"] = issued["access_token"]
    secrets["refresh_token"] = issued["refresh_token"]
    rotated = refresh(client, web, issued["refresh_token"]).get_json()
    secrets["rotated_refresh_token"] = rotated["refresh_token"]

    api = app.test_client()
    assert api.get("/api/v1/accounts", headers=api_key(key)).status_code == 200
    assert api.get("/api/v1/accounts", headers=bearer(rotated["access_token"])).status_code == 200
    assert api.get("/api/v1/accounts", headers=bearer("tga_forged-token-value")).status_code == 401
    secrets["forged"] = "tga_forged-token-value"
    first = make_client(name="First", grant_types=["password", "refresh_token"], first_party=True)
    grant = api.post(
        "/oauth/token",
        data={"grant_type": "password", "username": user.email, "password": PASSWORD},
        headers=first.basic_auth,
    )
    assert grant.status_code == 200, grant.get_json()
    secrets["password_grant_refresh"] = grant.get_json()["refresh_token"]
    wrong = api.post(LOGIN, json=login_body(user.email, "a wrong password!"))
    assert wrong.status_code == 401
    secrets["wrong_password"] = "a wrong password!"
    sure = api.post(LOGIN, json=login_body(user.email, PASSWORD))
    assert sure.status_code == 200, sure.get_json()
    secrets["sure_refresh"] = sure.get_json()["refresh_token"]
    again = api.post(REFRESH, json={"refresh_token": sure.get_json()["refresh_token"]})
    assert again.status_code == 200
    secrets["sure_access"] = again.get_json()["access_token"]

    output = capsys.readouterr().err
    entries = lines(output)
    assert any(e["logger"].startswith("authlib") for e in entries)  # DEBUG really came out
    kinds = {e.get("principal_kind") for e in entries if e["logger"] == "app.access"}
    assert {"api_key", "oauth"} <= kinds
    leaks = sorted(name for name, value in secrets.items() if value and value in output)
    assert not leaks, f"logged: {leaks}"
