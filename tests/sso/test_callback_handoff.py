"""The callback hands the mobile and desktop flows (started by sso-sure's routes, which put
``sso_flow`` in the session) to app.sso.services.callbacks, end to end through the real test
provider: Sure's custom-scheme redirects come back, success and failure alike. A web sign-in
button clears a flow an abandoned app start left behind."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from flask import Flask
from flask.testing import FlaskClient

from tests.sso.web_sso import CALLBACK, configure, path_of, signed_in, start
from tests.support.idp import UpstreamIdp
from tests.support.sure import DEVICE
from tests.support.web import csrf_from

FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)"')


def _app_start(client: FlaskClient, path: str) -> str:
    """What the app's browser does: open the start page, let it post to the provider's start;
    returns the provider's authorization URL."""
    page = client.get(path)
    assert page.status_code == 200, page.headers.get("Location")
    html = page.get_data(as_text=True)
    [action] = FORM_ACTION.findall(html)
    assert action == "/auth/idp"
    posted = client.post(action, data={"csrf_token": csrf_from(html)})
    assert posted.status_code == 302
    return posted.headers["Location"]


def _query(url: str, base: str) -> dict[str, str]:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == base, url
    return dict(parse_qsl(parts.query))


def test_mobile_unlinked_identity_gets_sures_linking_redirect(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp
) -> None:
    configure(app, upstream_idp)
    person = upstream_idp.add_user(f"m{secrets.token_hex(5)}@mobile.example")
    authorize = _app_start(client, "/auth/mobile/idp?" + urlencode(DEVICE))
    back = upstream_idp.sign_in_at_idp(
        requests.Session(), authorize, login=person.login, password=person.password
    )
    assert back.startswith(CALLBACK)
    answer = client.get(path_of(back))
    assert answer.status_code == 302
    params = _query(answer.headers["Location"], "sureapp://oauth/callback")
    assert params["status"] == "account_not_linked"
    assert (params["email"], params["allow_account_creation"]) == (person.email, "true")
    assert not signed_in(client)  # no web session for the app's flow


def test_mobile_failure_at_the_provider_gets_sures_error_redirect(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp
) -> None:
    configure(app, upstream_idp)
    authorize = _app_start(client, "/auth/mobile/idp?" + urlencode(DEVICE))
    back = upstream_idp.sign_in_at_idp(requests.Session(), authorize, action="deny")
    answer = client.get(path_of(back))
    assert answer.headers["Location"].startswith("sureapp://oauth/callback?error=sso_failed&")


def test_desktop_unlinked_identity_and_a_tampered_state(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp
) -> None:
    configure(app, upstream_idp)
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    authorize = _app_start(client, f"/auth/desktop/idp?code_challenge={challenge}")
    person = upstream_idp.add_user(f"d{secrets.token_hex(5)}@desktop.example")
    back = upstream_idp.sign_in_at_idp(
        requests.Session(), authorize, login=person.login, password=person.password
    )
    answer = client.get(path_of(back))
    assert answer.headers["Location"] == "sure://sso/callback?error=account_not_linked"
    # Another desktop start, then a callback whose state is not this browser's.
    _app_start(client, f"/auth/desktop/idp?code_challenge={challenge}")
    forged = path_of(back).replace("state=", "state=x")
    refused = client.get(forged)
    assert refused.headers["Location"] == "sure://sso/callback?error=sso_invalid_response"


def test_the_web_button_clears_an_abandoned_app_flow(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp
) -> None:
    configure(app, upstream_idp)
    client.get("/auth/mobile/idp?" + urlencode(DEVICE))  # the app's start, never continued
    person = upstream_idp.add_user(f"w{secrets.token_hex(5)}@web.example")
    started = start(client)  # the sign-in page's button
    back = upstream_idp.sign_in_at_idp(
        requests.Session(),
        started.headers["Location"],
        login=person.login,
        password=person.password,
    )
    answer = client.get(path_of(back))
    assert answer.headers["Location"] == "/"
    assert signed_in(client)
