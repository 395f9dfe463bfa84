"""Helpers of the accesskeys tests (their fixtures are in tests/accesskeys/conftest.py)."""

from __future__ import annotations

import uuid
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.factories import UserInfo
from tests.support.web import login, session_csrf

KEYS = "/api/v1/access_keys"


CLOUD_ACCOUNTS = "/api/v1/cloud_accounts"


class Manager:
    """A signed-in browser calling the access-key API with its session and CSRF header."""

    def __init__(self, client: FlaskClient, who: UserInfo) -> None:
        response = login(client, who.email, who.password)
        assert response.status_code == 302, response.get_data(as_text=True)
        self.client = client
        self.user = who
        self.headers = {"X-CSRFToken": session_csrf(client)}

    def create(self, body: dict[str, Any] | None = None, **fields: Any) -> TestResponse:
        payload = body if body is not None else {"roles": [{"role": "global_viewer"}], **fields}
        payload.setdefault("name", f"key-{uuid.uuid4().hex[:8]}")
        return self.client.post(KEYS, json=payload, headers=self.headers)

    def issue(self, roles: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        response = self.create(roles=roles, **fields)
        assert response.status_code == 201, response.get_json()
        body: dict[str, Any] = response.get_json()
        return body

    def list(self) -> TestResponse:
        return self.client.get(KEYS)

    def patch(self, key_id: str, body: Any) -> TestResponse:
        return self.client.patch(f"{KEYS}/{key_id}", json=body, headers=self.headers)

    def delete(self, key_id: str) -> TestResponse:
        return self.client.delete(f"{KEYS}/{key_id}", headers=self.headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def listed_ids(response: TestResponse) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return sorted(a["id"] for a in response.get_json()["cloud_accounts"])
