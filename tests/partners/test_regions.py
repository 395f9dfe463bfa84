"""Region binding with two real servers (C18, T27, 002.5): gunicorn with REGION=us and with
REGION=eu on ONE PostgreSQL database, sharing every key, so the region is the only difference.
A us partner's sign-in token and its organisation's admin token work on the us server and are
401 on the eu server; the SSO exchange of a us organisation on the eu server is 401; and the
same the other way round for an eu partner."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.fernet import Fernet

from tests.support.database import requires_postgres
from tests.support.partners import assertion
from tests.support.servers import PASSWORD, LiveServer, free_port, running_server, server_env

pytestmark = [pytest.mark.slow, requires_postgres]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _partner_token(server: LiveServer, email: str) -> str:
    """The partner's "basic authentication token" (002.4): the session login's access JWT."""
    response = requests.post(
        server.base_url + "/auth/login", json={"email": email, "password": PASSWORD}, timeout=30
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _organization(server: LiveServer, token: str) -> dict[str, Any]:
    response = requests.post(
        server.base_url + "/api/v1/organizations",
        json={"name": f"fleet {uuid.uuid4().hex[:6]}"},
        headers=_bearer(token),
        timeout=30,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _exchange(server: LiveServer, organization: dict[str, Any]) -> requests.Response:
    jwt = assertion(organization["ssoSecret"], organization["organizationId"], jti=uuid.uuid4().hex)
    return requests.get(
        server.base_url + "/api/v1/organizations/sso", headers=_bearer(jwt), timeout=30
    )


def _status(server: LiveServer, token: str, path: str = "/api/v1/organizations") -> int:
    return requests.get(server.base_url + path, headers=_bearer(token), timeout=30).status_code


def test_tokens_work_only_in_the_region_that_issued_them(database_url: str, tmp_path: Path) -> None:
    shared = {
        "DATABASE_URL": database_url,
        "AUTO_MIGRATE": "false",  # the test database is migrated already
        "SECRET_KEY": "regions-" + uuid.uuid4().hex,
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PARTNER_SSO_KEY": "partner-sso-" + uuid.uuid4().hex,
        # One issuer for both: JWTs name it, and it must not be what tells the regions apart.
        "APP_URL": "http://tollgate.test",
    }
    servers: dict[str, LiveServer] = {}
    ports = {"us": free_port(), "eu": free_port()}
    # One instance folder: any secret generated there (beyond those above) is shared too.
    envs = {
        region: server_env(tmp_path, f"http://127.0.0.1:{port}", REGION=region, **shared)
        for region, port in ports.items()
    }
    with (
        running_server(envs["us"], ports["us"], tmp_path / "us.log", workers=1),
        running_server(envs["eu"], ports["eu"], tmp_path / "eu.log", workers=1),
    ):
        for region, port in ports.items():
            servers[region] = LiveServer(f"http://127.0.0.1:{port}", envs[region])
        us, eu = servers["us"], servers["eu"]

        us.cli("users", "create", "--email", "pat@us.example", "--password", PASSWORD, "--partner")
        eu.cli("users", "create", "--email", "pia@eu.example", "--password", PASSWORD, "--partner")

        # The us partner's own credential: good at home, 401 abroad.
        us_partner = _partner_token(us, "pat@us.example")
        assert _status(us, us_partner) == 200
        assert _status(eu, us_partner) == 401
        refused = requests.post(
            eu.base_url + "/api/v1/organizations",
            json={"name": "abroad"},
            headers=_bearer(us_partner),
            timeout=30,
        )
        assert refused.status_code == 401

        us_org = _organization(us, us_partner)
        # The SSO exchange of a us organisation on the eu server: 401 (not 404: the one
        # database knows the organisation, but it does not exist in this region).
        abroad = _exchange(eu, us_org)
        assert abroad.status_code == 401, abroad.text
        assert abroad.json()["error"] == "invalid_assertion"
        home = _exchange(us, us_org)
        assert home.status_code == 200, home.text
        us_admin = home.json()["token"]
        assert _status(us, us_admin) == 200
        assert _status(us, us_admin, "/api/v1/tasks") == 200
        assert _status(eu, us_admin) == 401
        assert _status(eu, us_admin, "/api/v1/tasks") == 401

        # And the other way round: an eu partner and its organisation live in eu only.
        eu_partner = _partner_token(eu, "pia@eu.example")
        assert _status(eu, eu_partner) == 200
        assert _status(us, eu_partner) == 401
        eu_org = _organization(eu, eu_partner)
        assert _exchange(us, eu_org).status_code == 401
        eu_admin = _exchange(eu, eu_org).json()["token"]
        assert _status(eu, eu_admin) == 200
        assert _status(us, eu_admin) == 401

        # Each partner lists only its own region's organisations.
        listed = requests.get(
            us.base_url + "/api/v1/organizations", headers=_bearer(us_partner), timeout=30
        ).json()
        assert [o["organizationId"] for o in listed] == [us_org["organizationId"]]
