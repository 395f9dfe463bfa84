"""Credentials as request headers, and bodies sent the two ways Sure's clients send them."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

FORMATS = ("json", "form")  # what ``send`` speaks: a parametrize list for both


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api_key(key: str) -> dict[str, str]:
    return {"X-Api-Key": key}


def bracket_form(body: dict[str, Any]) -> dict[str, str]:
    """Rails' bracket notation, as Sure's Minitest suite sends it:
    ``{"user": {"email": e}}`` -> ``{"user[email]": e}``."""
    form: dict[str, str] = {}
    for key, value in body.items():
        if isinstance(value, dict):
            for inner, inner_value in value.items():
                form[f"{key}[{inner}]"] = inner_value
        elif value is not None:
            form[key] = value
    return form


def send(
    client: FlaskClient,
    path: str,
    body: dict[str, Any] | None = None,
    fmt: str = "json",
    method: str = "POST",
    **kwargs: Any,
) -> TestResponse:
    """Send ``body`` as JSON (what the Flutter app does) or as bracket-notation form data
    (what Sure's own tests do)."""
    if body is None:
        return client.open(path, method=method, **kwargs)
    if fmt == "json":
        return client.open(path, method=method, json=body, **kwargs)
    assert fmt == "form", fmt
    return client.open(path, method=method, data=bracket_form(body), **kwargs)


def assert_no_store(response: TestResponse) -> None:
    assert "no-store" in response.headers.get("Cache-Control", "")


def api_error(response: TestResponse) -> dict[str, Any]:
    """An API error body without its per-request parts, once they are checked: ``code`` is the
    ``error`` in upper case (RedCloud's spelling, C8) and ``correlation_id`` is the response's
    ``X-Correlation-ID``."""
    body = dict(response.get_json())
    assert body.pop("code") == body["error"].upper(), body
    assert body.pop("correlation_id") == response.headers["X-Correlation-ID"], body
    return body


def error_body(response: TestResponse) -> dict[str, Any]:
    """An error body to compare with the documented one: the API envelope through
    ``api_error``; Sure's own first-party bodies (no ``code``) and OAuth's RFC 6749 bodies as
    they are."""
    body = response.get_json()
    if isinstance(body, dict) and "code" in body and "correlation_id" in body:
        return api_error(response)
    assert isinstance(body, dict), body
    return body
