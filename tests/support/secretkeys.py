"""Helpers of the secretkeys tests (their fixtures are in tests/secretkeys/conftest.py)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.factories import UserInfo
from tests.support.web import csrf_from, login, session_csrf

TOKEN = "/api/v1/auth/token"


TASKS = "/api/v1/tasks"


ADMIN = "/api/v1/admin"


LINK_RE = re.compile(r"https?://[^/\s]+(/secret_key/reveal/(tgv_[A-Za-z0-9_-]+))")


KEY_RE = re.compile(r'data-testid="secret-key" value="([^"]+)"')


def outbox(app: Flask, to: str) -> list[dict[str, Any]]:
    """The messages to ``to``, newest first, decrypted (the operator's view)."""
    from app.mail import services

    with app.app_context():
        return services.outbox(to=to)


def latest_link(app: Flask, to: str) -> str:
    """The reveal path (``/secret_key/reveal/tgv_…``) of the newest mail to ``to``."""
    messages = outbox(app, to)
    assert messages, f"no mail to {to}"
    match = LINK_RE.search(messages[0]["body"] or "")
    assert match, messages[0]["body"]
    return match.group(1)


def signed_in(app: Flask, who: UserInfo) -> FlaskClient:
    client = app.test_client()
    response = login(client, who.email, who.password)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def reveal(client: FlaskClient, path: str, **kwargs: Any) -> TestResponse:
    """The confirmation page, then its form: what a browser does."""
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    return client.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True))}, **kwargs)


def key_from(page: TestResponse) -> str:
    match = KEY_RE.search(page.get_data(as_text=True))
    assert match, page.get_data(as_text=True)
    return match.group(1)


def issue(
    client: FlaskClient,
    email: str,
    secret: str,
    *,
    accept: str | None = "text/plain",
    ip: str = "127.0.0.1",
) -> TestResponse:
    headers = {"X-email": email, "X-client-secret": secret, "Content-Type": "application/json"}
    if accept is not None:
        headers["Accept"] = accept
    return client.post(TOKEN, headers=headers, environ_base={"REMOTE_ADDR": ip})


def call(client: FlaskClient, jwt: str, path: str = TASKS, ip: str = "127.0.0.1") -> TestResponse:
    return client.get(
        path, headers={"Authorization": f"Bearer {jwt}"}, environ_base={"REMOTE_ADDR": ip}
    )


class Admin:
    """A Secret Key Administrator's browser calling the JSON API."""

    def __init__(self, client: FlaskClient, who: UserInfo) -> None:
        assert login(client, who.email, who.password).status_code == 302
        self.client = client
        self.user = who
        self.headers = {"X-CSRFToken": session_csrf(client)}

    def list(self, **query: Any) -> TestResponse:
        return self.client.get(f"{ADMIN}/secret_keys", query_string=query)

    def add(self, target: UserInfo | str) -> TestResponse:
        return self.client.post(f"{ADMIN}/users/{_id(target)}/secret_key", headers=self.headers)

    def revoke(self, target: UserInfo | str) -> TestResponse:
        return self.client.delete(f"{ADMIN}/users/{_id(target)}/secret_key", headers=self.headers)

    def resend(self, target: UserInfo | str) -> TestResponse:
        return self.client.post(
            f"{ADMIN}/users/{_id(target)}/secret_key/reveal_link", headers=self.headers
        )

    def restrictions(self, target: UserInfo | str) -> TestResponse:
        return self.client.get(f"{ADMIN}/users/{_id(target)}/ip_restrictions")

    def restrict(self, target: UserInfo | str, restrictions: Any) -> TestResponse:
        return self.client.put(
            f"{ADMIN}/users/{_id(target)}/ip_restrictions",
            json={"restrictions": restrictions},
            headers=self.headers,
        )

    def tokens(self, target: UserInfo | str) -> TestResponse:
        return self.client.get(f"{ADMIN}/users/{_id(target)}/secret_key/tokens")

    def revoke_token(self, jti: str) -> TestResponse:
        return self.client.post(f"{ADMIN}/secret_key_tokens/{jti}/revoke", headers=self.headers)


def _id(target: UserInfo | str) -> str:
    return target if isinstance(target, str) else str(target.id)


@dataclass
class FakeDNS:
    """A resolver for hostname restrictions: no network; records what was asked."""

    names: dict[str, list[str]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def __call__(self, hostname: str) -> Iterable[str]:
        self.asked.append(hostname)
        if hostname not in self.names:
            raise OSError("Name or service not known")
        return self.names[hostname]
