"""Desktop SSO end to end against a real OpenID provider (tests/support/idp.py): the desktop
app opens ``/auth/desktop/idp?code_challenge=…`` in the system browser, the person signs in at
the provider, the callback sends ``sure://sso/callback?code=…``, and the app's webview posts
the code with its PKCE verifier to ``/sessions/desktop_exchange`` (contract §2.6, §7.10)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.sso.sure_sso import DESKTOP_CALLBACK, DESKTOP_EXCHANGE, code_of
from tests.sso.web_sso import (
    KEY,
    configure,
    fresh,
    linked_person,
    session_of,
    signed_in,
    start_on,
    through_provider,
)
from tests.support.factories import enable_mfa
from tests.support.idp import UpstreamIdp, UpstreamUser
from tests.support.totp import totp_now
from tests.support.web import csrf_from


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def desktop_round_trip(
    browser: FlaskClient, idp: UpstreamIdp, person: UpstreamUser, challenge: str
) -> TestResponse:
    started = start_on(browser, f"/auth/desktop/{KEY}", {"code_challenge": challenge})
    return through_provider(browser, idp, started, person)


def test_the_desktop_app_gets_a_code_its_webview_exchanges_for_a_session(
    app: Flask, upstream_idp: UpstreamIdp, make_user: Any
) -> None:
    configure(app, upstream_idp)
    owner = make_user(fresh("tollgate.example"))
    person = linked_person(app, upstream_idp, owner)
    verifier, challenge = pkce()
    system_browser, webview = app.test_client(), app.test_client()

    answer = desktop_round_trip(system_browser, upstream_idp, person, challenge)

    code = code_of(answer.headers["Location"], DESKTOP_CALLBACK)
    assert not signed_in(system_browser)  # the system browser gets no session
    exchanged = webview.post(DESKTOP_EXCHANGE, data={"code": code, "code_verifier": verifier})
    assert (exchanged.status_code, exchanged.headers["Location"]) == (302, "/")
    assert signed_in(webview)
    assert session_of(webview)["amr"] == ["ext"]
    again = app.test_client()
    assert (
        again.post(DESKTOP_EXCHANGE, data={"code": code, "code_verifier": verifier}).headers[
            "Location"
        ]
        == "/login"
    )
    assert not signed_in(again)


def test_a_totp_user_passes_mfa_verify_in_the_webview(
    app: Flask, upstream_idp: UpstreamIdp, make_user: Any
) -> None:
    configure(app, upstream_idp)
    owner = enable_mfa(app, make_user(fresh("tollgate.example")))
    person = linked_person(app, upstream_idp, owner)
    verifier, challenge = pkce()
    webview = app.test_client()

    code = code_of(
        desktop_round_trip(app.test_client(), upstream_idp, person, challenge).headers["Location"],
        DESKTOP_CALLBACK,
    )
    exchanged = webview.post(DESKTOP_EXCHANGE, data={"code": code, "code_verifier": verifier})

    assert exchanged.headers["Location"] == "/mfa/verify"
    assert not signed_in(webview)
    csrf = csrf_from(webview.get("/mfa/verify").get_data(as_text=True))
    verified = webview.post(
        "/mfa/verify", data={"csrf_token": csrf, "code": totp_now(owner.secret)}
    )
    assert (verified.status_code, verified.headers["Location"]) == (302, "/")
    assert signed_in(webview)
    assert session_of(webview)["amr"] == ["ext", "otp", "mfa"]


def test_an_unlinked_person_is_sent_back_as_account_not_linked(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp
) -> None:
    configure(app, upstream_idp)
    person = upstream_idp.add_user(fresh())
    _, challenge = pkce()

    answer = desktop_round_trip(client, upstream_idp, person, challenge)

    assert answer.headers["Location"] == f"{DESKTOP_CALLBACK}?error=account_not_linked"
    assert not signed_in(client)
