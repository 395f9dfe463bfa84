"""Helpers of the partner-organisation tests (fixtures in tests/partners/conftest.py): the
partner's side of the Surfsight flow, written the way a partner would (independently of the
server's code): an HS256 JWT signed with the ssoSecret's raw UTF-8 bytes, as jwt.io does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

ORGANIZATIONS = "/api/v1/organizations"
SSO = "/api/v1/organizations/sso"
SSO_REVOKE = "/api/v1/organizations/sso/revoke"
UUID4_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def stamp(moment: datetime | None = None) -> str:
    """The seed's timestamp format, in UTC: YYYY-MM-DDThh:mm:ss."""
    moment = moment or datetime.now(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def sign(
    secret: str | bytes,
    claims: dict[str, Any],
    *,
    alg: str = "HS256",
    header: dict[str, Any] | None = None,
) -> str:
    """A compact JWS, HMAC-signed with ``secret`` (a str is used as its UTF-8 bytes, never
    base64-decoded: jwt.io's default). ``alg`` goes in the header; HS512 signs with SHA-512,
    anything else with SHA-256 (the signature does not matter for a refused algorithm)."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    head = header if header is not None else {"alg": alg, "typ": "JWT"}
    signing_input = (
        b64url(json.dumps(head, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    if alg == "none":
        return signing_input + "."
    digest = hashlib.sha512 if alg == "HS512" else hashlib.sha256
    return signing_input + "." + b64url(hmac.new(key, signing_input.encode(), digest).digest())


def assertion(
    secret: str, organization_id: str, moment: datetime | None = None, **extra: Any
) -> str:
    """The assertion the seed describes: organizationId + the current UTC timestamp."""
    return sign(secret, {"organizationId": organization_id, "timestamp": stamp(moment), **extra})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def exchange(client: FlaskClient, jwt: str, path: str = SSO, **kwargs: Any) -> TestResponse:
    """``GET /organizations/sso`` with the assertion in the Authorization header."""
    return client.get(path, headers=bearer(jwt), **kwargs)


def admin_token(client: FlaskClient, secret: str, organization_id: str) -> str:
    """A fresh admin token (a ``jti`` keeps two assertions of the same second apart: an
    assertion works once)."""
    response = exchange(client, assertion(secret, organization_id, jti=uuid.uuid4().hex))
    assert response.status_code == 200, response.get_json()
    token: str = response.get_json()["token"]
    return token


class Partner:
    """A partner calling the organisation API with a bearer token (their own sign-in)."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.headers = bearer(token)

    def create(self, name: Any = "organization 1", **kwargs: Any) -> TestResponse:
        return self.client.post(ORGANIZATIONS, json={"name": name}, headers=self.headers, **kwargs)

    def organization(self, name: str = "organization 1") -> dict[str, Any]:
        response = self.create(name)
        assert response.status_code == 201, response.get_json()
        body: dict[str, Any] = response.get_json()
        return body

    def list(self) -> TestResponse:
        return self.client.get(ORGANIZATIONS, headers=self.headers)

    def rotate(self, organization_id: str, body: Any = None) -> TestResponse:
        return self.client.post(
            f"{ORGANIZATIONS}/{organization_id}/sso_secret/rotate", json=body, headers=self.headers
        )

    def revoke_all(self, organization_id: str) -> TestResponse:
        return self.client.delete(
            f"{ORGANIZATIONS}/{organization_id}/admin_tokens", headers=self.headers
        )
