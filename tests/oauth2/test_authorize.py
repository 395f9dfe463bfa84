"""The authorization endpoint, black box over HTTP (security checklist items 20-32, 38-40).

Everything goes through the Flask test client as a browser would: the consent page is parsed
as HTML and its form is submitted as-is. The database is only read, to prove that no
authorization code was issued where none may be.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.support.factories import ClientInfo, UserInfo
from tests.support.oauth import Authorized, exchange_code, pkce_pair, query_of
from tests.support.web import csrf_from, login

ISSUER = "https://auth.tollgate.test"  # APP_URL in tests (conftest.base_config)
REGISTERED = "https://client.example/cb"  # make_client's default redirect URI
LOOPBACK = "http://127.0.0.1/callback"
CODE_RE = re.compile(r"^tgc_[A-Za-z0-9_-]{43,}$")
SPECIAL_STATE = (
    "s t+a/t=e&x=1;y?z#frag%20%2B\"quote'<tag>&amp;\\back`tick~!@$^*()[]{}|,"
    "ünïcødé-✓-漢字-" + "L" * 1500
)


# --- helpers -----------------------------------------------------------------------------


@dataclass
class Form:
    method: str
    action: str | None
    inputs: list[tuple[str, str, str]] = field(default_factory=list)  # (type, name, value)
    buttons: list[tuple[str, str, str]] = field(default_factory=list)  # (type, name, value)

    def hidden(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for kind, name, value in self.inputs:
            if kind == "hidden":
                out.setdefault(name, []).append(value)
        return out


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.sources: list[str] = []
        self._current: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for key in ("src", "href", "action"):
            if key in a:
                self.sources.append(a[key])
        if tag == "form":
            self._current = Form(method=a.get("method", "get").lower(), action=a.get("action"))
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None:
            self._current.inputs.append(
                (a.get("type", "text").lower(), a.get("name", ""), a.get("value", ""))
            )
        elif tag == "button" and self._current is not None:
            self._current.buttons.append(
                (a.get("type", "submit").lower(), a.get("name", ""), a.get("value", ""))
            )

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def parse_page(html: str) -> _FormParser:
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    return parser


def consent_form(response: Any) -> Form:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    forms = [f for f in parse_page(response.get_data(as_text=True)).forms if f.method == "post"]
    assert len(forms) == 1, "the consent page has exactly one POST form"
    return forms[0]


def auth_params(oauth: ClientInfo, **overrides: str | None) -> dict[str, str]:
    """A valid authorization request for ``oauth``; ``None`` in overrides drops a parameter."""
    _, challenge = pkce_pair()
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": oauth.client_id,
        "redirect_uri": oauth.redirect_uri,
        "scope": "read",
        "state": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def authorize_url(params: dict[str, str] | list[tuple[str, str]]) -> str:
    return "/oauth/authorize?" + urlencode(params)


def form_fields(form: Form, confirm: str | None = "yes") -> list[tuple[str, str]]:
    """What a browser submits: every named input plus the clicked button."""
    fields = [(name, value) for _, name, value in form.inputs if name]
    if confirm is not None:
        fields.append(("confirm", confirm))
    return fields


def post_form(client: FlaskClient, fields: list[tuple[str, str]] | dict[str, str]):  # type: ignore[no-untyped-def]
    body = urlencode(fields)
    return client.post(
        "/oauth/authorize", data=body, content_type="application/x-www-form-urlencoded"
    )


def consent_and_submit(
    client: FlaskClient,
    params: dict[str, str],  # type: ignore[no-untyped-def]
    confirm: str | None = "yes",
):
    form = consent_form(client.get(authorize_url(params)))
    return post_form(client, form_fields(form, confirm))


def code_count(app: Flask) -> int:
    from app.extensions import db
    from app.oauth2.models import AuthorizationCode

    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(AuthorizationCode))
        db.session.remove()
        return int(count or 0)


def split_location(response: Any) -> tuple[str, dict[str, list[str]]]:
    """The redirect target without its query, and the query (every value kept)."""
    location = response.headers["Location"]
    parts = urlsplit(location)
    base = parts._replace(query="", fragment="").geturl()
    return base, parse_qs(parts.query, keep_blank_values=True)


def assert_error_redirect(response: Any, redirect_uri: str, error: str, state: str) -> None:
    assert response.status_code == 302, response.get_data(as_text=True)
    base, query = split_location(response)
    assert base == redirect_uri
    assert query["error"] == [error]
    assert query["state"] == [state]
    assert query["iss"] == [ISSUER]
    assert "code" not in query


def assert_error_page(response: Any, error: str | None = None) -> None:
    """An error shown to the user: HTML, 400, never a redirect anywhere."""
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert 'role="alert"' in body
    if error is not None:
        assert f'data-error="{error}"' in body
    assert "tgc_" not in body


def error_of(response: Any) -> str | None:
    """The OAuth error a response carries, whether redirected or shown as a page."""
    if response.status_code == 302:
        return query_of(response.headers["Location"]).get("error")
    match = re.search(r'data-error="([^"]+)"', response.get_data(as_text=True))
    return match.group(1) if match else None


@pytest.fixture
def loopback_client(make_client: Callable[..., ClientInfo]) -> ClientInfo:
    return make_client(name="CLI", redirect_uris=[LOOPBACK], public=True)


# --- sign-in -------------------------------------------------------------------------------


def test_not_signed_in_redirects_to_login_with_the_full_authorize_url_as_next(
    client: FlaskClient, oauth_client: ClientInfo, user: UserInfo, app: Flask
) -> None:
    url = authorize_url(auth_params(oauth_client, state="a b+c/d?e=f&g"))
    response = client.get(url)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.netloc in ("", "localhost")
    assert location.path == "/login"
    assert parse_qs(location.query) == {"next": [url]}
    assert code_count(app) == 0

    # Signing in with that `next` comes back to the very same authorization request.
    signed = login(client, user.email, user.password, next_path=url)
    assert signed.status_code == 302
    assert signed.headers["Location"] == url
    form = consent_form(client.get(signed.headers["Location"]))
    assert form.hidden()["state"] == ["a b+c/d?e=f&g"]


# --- the consent page ------------------------------------------------------------------------


def test_consent_page_is_a_post_form_carrying_the_request_and_a_csrf_token(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    params = auth_params(oauth_client)
    response = signed_in.get(authorize_url(params))
    form = consent_form(response)
    assert form.action in (None, "", "/oauth/authorize")
    hidden = form.hidden()
    for key in (
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
    ):
        assert hidden[key] == [params[key]], key
    assert len(hidden["csrf_token"]) == 1 and hidden["csrf_token"][0]
    assert hidden["csrf_token"][0] == csrf_from(response.get_data(as_text=True))
    submits = sorted((name, value) for kind, name, value in form.buttons if kind == "submit")
    assert submits == [("confirm", "no"), ("confirm", "yes")]


def test_consent_page_sends_anti_framing_and_referrer_headers(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    response = signed_in.get(authorize_url(auth_params(oauth_client)))
    assert response.status_code == 200
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "same-origin"  # never sent cross-origin
    assert "no-store" in response.headers["Cache-Control"]


def test_consent_page_embeds_no_third_party_content(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    response = signed_in.get(authorize_url(auth_params(oauth_client)))
    sources = parse_page(response.get_data(as_text=True)).sources
    assert sources, "expected at least the stylesheet and the form action"
    for source in sources:
        parts = urlsplit(source)
        assert not parts.scheme and not parts.netloc, source


def test_authorization_error_page_sends_anti_framing_and_referrer_headers(
    signed_in: FlaskClient,
) -> None:
    response = signed_in.get(authorize_url({"response_type": "code", "client_id": "nope"}))
    assert_error_page(response)
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "same-origin"  # never sent cross-origin


def test_get_never_issues_a_code(
    signed_in: FlaskClient, oauth_client: ClientInfo, app: Flask
) -> None:
    response = signed_in.get(authorize_url(auth_params(oauth_client)))
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert "tgc_" not in response.get_data(as_text=True)
    assert code_count(app) == 0


# --- the decision ------------------------------------------------------------------------------


def test_approval_redirects_with_a_256_bit_code_state_and_iss(
    signed_in: FlaskClient, oauth_client: ClientInfo, app: Flask
) -> None:
    params = auth_params(oauth_client)
    response = consent_and_submit(signed_in, params, confirm="yes")
    assert response.status_code == 302  # never 307: the POST body must not be replayed
    assert response.headers["Referrer-Policy"] == "same-origin"  # never sent cross-origin
    base, query = split_location(response)
    assert base == REGISTERED
    assert set(query) == {"code", "state", "iss"}
    assert query["state"] == [params["state"]]
    assert query["iss"] == [ISSUER]
    (code,) = query["code"]
    assert code.startswith("tgc_")
    assert CODE_RE.match(code), code
    assert len(code.removeprefix("tgc_")) >= 43  # 43 base64url characters = 256 bits
    assert code_count(app) == 1


def test_iss_equals_the_issuer_in_the_metadata(
    signed_in: FlaskClient, oauth_client: ClientInfo, app: Flask
) -> None:
    metadata = signed_in.get("/.well-known/oauth-authorization-server").get_json()
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert metadata["issuer"] == app.config["APP_URL"] == ISSUER
    response = consent_and_submit(signed_in, auth_params(oauth_client))
    assert query_of(response.headers["Location"])["iss"] == metadata["issuer"]


def test_each_approval_issues_a_different_code(
    signed_in: FlaskClient, oauth_client: ClientInfo, app: Flask
) -> None:
    first = consent_and_submit(signed_in, auth_params(oauth_client))
    second = consent_and_submit(signed_in, auth_params(oauth_client))
    codes = {query_of(r.headers["Location"])["code"] for r in (first, second)}
    assert len(codes) == 2
    assert code_count(app) == 2


def test_denial_redirects_with_access_denied_state_and_iss(
    signed_in: FlaskClient, oauth_client: ClientInfo, app: Flask
) -> None:
    params = auth_params(oauth_client)
    response = consent_and_submit(signed_in, params, confirm="no")
    assert_error_redirect(response, REGISTERED, "access_denied", params["state"])
    assert code_count(app) == 0


def test_submission_without_a_decision_is_a_denial(
    signed_in: FlaskClient, oauth_client: ClientInfo, app: Flask
) -> None:
    params = auth_params(oauth_client)
    response = consent_and_submit(signed_in, params, confirm=None)
    assert_error_redirect(response, REGISTERED, "access_denied", params["state"])
    assert code_count(app) == 0


@pytest.mark.parametrize(
    "state",
    [
        SPECIAL_STATE,
        "x" * 4000,
        "a+b%2Bc d",
        "=&;",
    ],
)
def test_state_is_echoed_byte_for_byte_on_approval(
    signed_in: FlaskClient, oauth_client: ClientInfo, state: str
) -> None:
    params = auth_params(oauth_client, state=state)
    form = consent_form(signed_in.get(authorize_url(params)))
    assert form.hidden()["state"] == [state]
    response = post_form(signed_in, form_fields(form, "yes"))
    assert response.status_code == 302
    _, query = split_location(response)
    assert query["state"] == [state]
    assert query["code"][0].startswith("tgc_")


def test_state_is_echoed_byte_for_byte_on_denial(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    params = auth_params(oauth_client, state=SPECIAL_STATE)
    response = consent_and_submit(signed_in, params, confirm="no")
    assert_error_redirect(response, REGISTERED, "access_denied", SPECIAL_STATE)


def test_state_is_echoed_byte_for_byte_on_an_error_redirect(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    params = auth_params(oauth_client, state=SPECIAL_STATE, scope="admin")
    response = signed_in.get(authorize_url(params))
    assert_error_redirect(response, REGISTERED, "invalid_scope", SPECIAL_STATE)


def test_without_state_the_response_carries_no_state(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    response = consent_and_submit(signed_in, auth_params(oauth_client, state=None))
    assert response.status_code == 302
    _, query = split_location(response)
    assert set(query) == {"code", "iss"}


def test_consent_post_reads_the_form_body_not_the_query_string(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    params = auth_params(oauth_client)
    form = consent_form(signed_in.get(authorize_url(params)))
    overrides = {"redirect_uri": "https://evil.example/cb", "state": "from-query"}
    response = signed_in.post(
        "/oauth/authorize?" + urlencode(overrides),
        data=urlencode(form_fields(form, "yes")),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 302
    base, query = split_location(response)
    assert base == REGISTERED
    assert query["state"] == [params["state"]]
    assert query["code"][0].startswith("tgc_")


# --- CSRF on the consent POST ------------------------------------------------------------


def test_consent_post_without_csrf_token_is_refused(
    signed_in: FlaskClient, oauth_client: ClientInfo, app: Flask
) -> None:
    form = consent_form(signed_in.get(authorize_url(auth_params(oauth_client))))
    fields = [(k, v) for k, v in form_fields(form, "yes") if k != "csrf_token"]
    response = post_form(signed_in, fields)
    assert_error_page(response, "invalid_csrf_token")
    assert code_count(app) == 0


def test_consent_post_with_a_csrf_token_from_another_session_is_refused(
    app: Flask, make_user: Callable[..., UserInfo], oauth_client: ClientInfo
) -> None:
    victim, attacker = app.test_client(), app.test_client()
    for browser in (victim, attacker):
        person = make_user()
        assert login(browser, person.email, person.password).status_code == 302
    params = auth_params(oauth_client)
    attacker_form = consent_form(attacker.get(authorize_url(params)))
    # A cross-site form posted into the victim's session, with the attacker's token.
    response = post_form(victim, form_fields(attacker_form, "yes"))
    assert_error_page(response, "invalid_csrf_token")
    assert code_count(app) == 0


def test_consent_post_with_a_forged_csrf_token_is_refused(
    signed_in: FlaskClient, oauth_client: ClientInfo, app: Flask
) -> None:
    form = consent_form(signed_in.get(authorize_url(auth_params(oauth_client))))
    fields = [(k, "forged" if k == "csrf_token" else v) for k, v in form_fields(form, "yes")]
    response = post_form(signed_in, fields)
    assert_error_page(response, "invalid_csrf_token")
    assert code_count(app) == 0


# --- client and redirect URI: errors shown, never redirected ---------------------------------


def test_unknown_client_id_gets_an_error_page(signed_in: FlaskClient, app: Flask) -> None:
    params = {
        "response_type": "code",
        "client_id": "no-such-client",
        "redirect_uri": "https://evil.example/cb",
        "state": "s",
        "code_challenge": pkce_pair()[1],
        "code_challenge_method": "S256",
    }
    response = signed_in.get(authorize_url(params))
    assert_error_page(response, "invalid_client")
    assert "evil.example" not in response.headers.get("Location", "")
    assert code_count(app) == 0


def test_missing_client_id_gets_an_error_page(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    response = signed_in.get(authorize_url(auth_params(oauth_client, client_id=None)))
    assert_error_page(response)


def test_unregistered_redirect_uri_gets_an_error_page(
    signed_in: FlaskClient, oauth_client: ClientInfo, app: Flask
) -> None:
    params = auth_params(oauth_client, redirect_uri="https://evil.example/cb")
    response = signed_in.get(authorize_url(params))
    assert_error_page(response, "invalid_request")
    assert code_count(app) == 0


@pytest.mark.parametrize(
    "redirect_uri",
    [
        pytest.param("https://client.example/cb/x", id="extra-path"),
        pytest.param("https://client.example/cb/../x", id="traversal"),
        pytest.param("https://client.example/cb/%2e%2e/x", id="encoded-traversal"),
        pytest.param("https://client.example/cb/", id="trailing-slash"),
        pytest.param("https://client.example/CB", id="path-case"),
        pytest.param("https://CLIENT.example/cb", id="host-case"),
        pytest.param("https://client.example/cb?x=1", id="added-query"),
        pytest.param("https://client.example/cb?", id="empty-query"),
        pytest.param("https://client.example:8443/cb", id="other-port"),
        pytest.param("https://client.example:443/cb", id="explicit-default-port"),
        pytest.param("http://client.example/cb", id="http-not-https"),
        pytest.param("https://evil.client.example/cb", id="subdomain"),
        pytest.param("https://client.example.evil.example/cb", id="suffix-domain"),
        pytest.param("https://client.example/cb#frag", id="fragment"),
        pytest.param("https://client.example@evil.example/cb", id="userinfo"),
        pytest.param("https://user:pw@client.example/cb", id="userinfo-on-registered-host"),
        pytest.param("https://client.example/cb ", id="trailing-space"),
        pytest.param("//client.example/cb", id="scheme-relative"),
    ],
)
def test_redirect_uri_must_match_exactly(
    signed_in: FlaskClient, oauth_client: ClientInfo, app: Flask, redirect_uri: str
) -> None:
    assert oauth_client.redirect_uri == REGISTERED
    response = signed_in.get(authorize_url(auth_params(oauth_client, redirect_uri=redirect_uri)))
    assert_error_page(response, "invalid_request")
    assert code_count(app) == 0


def test_tampered_redirect_uri_in_the_consent_post_gets_an_error_page(
    signed_in: FlaskClient, oauth_client: ClientInfo, app: Flask
) -> None:
    form = consent_form(signed_in.get(authorize_url(auth_params(oauth_client))))
    fields = [
        (k, "https://evil.example/cb" if k == "redirect_uri" else v)
        for k, v in form_fields(form, "yes")
    ]
    response = post_form(signed_in, fields)
    assert_error_page(response, "invalid_request")
    assert code_count(app) == 0


def test_redirect_uri_may_be_omitted_when_exactly_one_is_registered(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    params = auth_params(oauth_client, redirect_uri=None)
    response = consent_and_submit(signed_in, params)
    assert response.status_code == 302
    base, query = split_location(response)
    assert base == REGISTERED
    assert query["code"][0].startswith("tgc_")


def test_redirect_uri_is_required_when_several_are_registered(
    signed_in: FlaskClient, make_client: Callable[..., ClientInfo], app: Flask
) -> None:
    several = make_client(
        redirect_uris=["https://client.example/cb", "https://client.example/other"]
    )
    response = signed_in.get(authorize_url(auth_params(several, redirect_uri=None)))
    assert_error_page(response, "invalid_request")
    assert code_count(app) == 0


def test_error_page_escapes_the_presented_redirect_uri(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    evil = 'https://evil.example/<script>alert(1)</script>"onmouseover="x'
    response = signed_in.get(authorize_url(auth_params(oauth_client, redirect_uri=evil)))
    assert_error_page(response, "invalid_request")
    body = response.get_data(as_text=True)
    assert "<script>" not in body
    assert '"onmouseover="' not in body


def test_consent_page_escapes_the_client_name_and_state(
    signed_in: FlaskClient, make_client: Callable[..., ClientInfo]
) -> None:
    hostile = make_client(name="<script>alert(1)</script>")
    params = auth_params(hostile, state='"><script>alert(2)</script>')
    response = signed_in.get(authorize_url(params))
    body = response.get_data(as_text=True)
    assert "<script>" not in body
    assert consent_form(response).hidden()["state"] == [params["state"]]


# --- loopback redirect URIs (RFC 8252 §7.3) --------------------------------------------------


def test_loopback_redirect_uri_accepts_any_port(
    signed_in: FlaskClient, loopback_client: ClientInfo, app: Flask
) -> None:
    params = auth_params(loopback_client, redirect_uri="http://127.0.0.1:51234/callback")
    response = consent_and_submit(signed_in, params)
    assert response.status_code == 302
    base, query = split_location(response)
    assert base == "http://127.0.0.1:51234/callback"
    assert query["state"] == [params["state"]]
    assert query["iss"] == [ISSUER]
    assert query["code"][0].startswith("tgc_")
    assert code_count(app) == 1


@pytest.mark.parametrize(
    "redirect_uri",
    [
        pytest.param("http://127.0.0.1:51234/other", id="other-path"),
        pytest.param("http://evil@127.0.0.1:5/callback", id="userinfo"),
        pytest.param("http://127.0.0.1:5@evil.example/callback", id="userinfo-host-confusion"),
        pytest.param("http://127.0.0.1:51234/callback/", id="trailing-slash"),
        pytest.param("http://127.0.0.1:51234/callback?x=1", id="added-query"),
        pytest.param("http://127.0.0.1:51234/callback#f", id="fragment"),
        pytest.param("http://localhost:51234/callback", id="other-loopback-host"),
        pytest.param("https://127.0.0.1:51234/callback", id="https-not-http"),
        pytest.param("http://127.0.0.2:51234/callback", id="other-address"),
    ],
)
def test_loopback_exception_covers_only_the_port(
    signed_in: FlaskClient, loopback_client: ClientInfo, app: Flask, redirect_uri: str
) -> None:
    response = signed_in.get(authorize_url(auth_params(loopback_client, redirect_uri=redirect_uri)))
    assert_error_page(response, "invalid_request")
    assert code_count(app) == 0


def test_loopback_any_port_for_ipv6_literal(
    signed_in: FlaskClient, make_client: Callable[..., ClientInfo]
) -> None:
    native = make_client(name="CLI6", redirect_uris=["http://[::1]/callback"], public=True)
    params = auth_params(native, redirect_uri="http://[::1]:40123/callback")
    response = consent_and_submit(signed_in, params)
    assert response.status_code == 302
    assert split_location(response)[0] == "http://[::1]:40123/callback"


@pytest.mark.parametrize(
    "registered, presented",
    [
        pytest.param(
            "http://localhost/callback",
            "http://localhost:51234/callback",
            id="localhost-other-port",
        ),
        pytest.param(
            "http://localhost:8080/callback",
            "http://localhost:9090/callback",
            id="localhost-port-to-port",
        ),
    ],
)
def test_localhost_is_matched_exactly(
    signed_in: FlaskClient,
    make_client: Callable[..., ClientInfo],
    app: Flask,
    registered: str,
    presented: str,
) -> None:
    """RFC 8252 §7.3 names the IP literals; ``localhost`` can resolve elsewhere (§8.3)."""
    native = make_client(name="Localhost CLI", redirect_uris=[registered], public=True)
    response = signed_in.get(authorize_url(auth_params(native, redirect_uri=presented)))
    assert_error_page(response, "invalid_request")
    assert code_count(app) == 0
    exact = consent_and_submit(signed_in, auth_params(native, redirect_uri=registered))
    assert split_location(exact)[0] == registered


def test_confidential_clients_match_loopback_exactly(
    signed_in: FlaskClient, make_client: Callable[..., ClientInfo], app: Flask
) -> None:
    """The any-port rule is for native (public) apps that listen on an ephemeral port."""
    web = make_client(name="Local dev server", redirect_uris=[LOOPBACK])
    response = signed_in.get(
        authorize_url(auth_params(web, redirect_uri="http://127.0.0.1:51234/callback"))
    )
    assert_error_page(response, "invalid_request")
    assert code_count(app) == 0


def test_port_flexibility_is_only_for_loopback(
    signed_in: FlaskClient, make_client: Callable[..., ClientInfo]
) -> None:
    http_client = make_client(redirect_uris=["http://client.example/cb"])
    response = signed_in.get(
        authorize_url(auth_params(http_client, redirect_uri="http://client.example:8080/cb"))
    )
    assert_error_page(response, "invalid_request")


# --- PKCE at the authorization endpoint (items 38-40) -----------------------------------------


PKCE_DEFECTS = {
    "missing-challenge": {"code_challenge": None},
    "missing-method": {"code_challenge_method": None},
    "missing-both": {"code_challenge": None, "code_challenge_method": None},
    "plain": {"code_challenge": "p" * 64, "code_challenge_method": "plain"},
    "unknown-method": {"code_challenge_method": "S512"},
    "lowercase-method": {"code_challenge_method": "s256"},
    "malformed-challenge": {"code_challenge": "short"},
}


@pytest.mark.parametrize("kind", ["confidential", "public"])
@pytest.mark.parametrize("defect", list(PKCE_DEFECTS))
def test_pkce_is_required_with_s256_for_every_client(
    signed_in: FlaskClient,
    oauth_client: ClientInfo,
    public_client: ClientInfo,
    app: Flask,
    kind: str,
    defect: str,
) -> None:
    oauth = oauth_client if kind == "confidential" else public_client
    params = auth_params(oauth, **PKCE_DEFECTS[defect])
    response = signed_in.get(authorize_url(params))
    assert_error_redirect(response, oauth.redirect_uri or "", "invalid_request", params["state"])
    assert code_count(app) == 0


@pytest.mark.parametrize("dropped", ["code_challenge", "code_challenge_method"])
def test_pkce_is_checked_again_on_the_consent_post(
    signed_in: FlaskClient, public_client: ClientInfo, app: Flask, dropped: str
) -> None:
    params = auth_params(public_client)
    form = consent_form(signed_in.get(authorize_url(params)))
    fields = [(k, v) for k, v in form_fields(form, "yes") if k != dropped]
    response = post_form(signed_in, fields)
    assert_error_redirect(
        response, public_client.redirect_uri or "", "invalid_request", params["state"]
    )
    assert code_count(app) == 0


def test_plain_pkce_in_the_consent_post_is_refused(
    signed_in: FlaskClient, oauth_client: ClientInfo, app: Flask
) -> None:
    params = auth_params(oauth_client)
    form = consent_form(signed_in.get(authorize_url(params)))
    fields = [
        (k, "plain" if k == "code_challenge_method" else v) for k, v in form_fields(form, "yes")
    ]
    response = post_form(signed_in, fields)
    assert_error_redirect(response, REGISTERED, "invalid_request", params["state"])
    assert code_count(app) == 0


# --- scope and response_type ------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["admin", "read admin", "openid", "write", "READ"])
def test_unknown_scope_redirects_with_invalid_scope(
    signed_in: FlaskClient, oauth_client: ClientInfo, app: Flask, scope: str
) -> None:
    params = auth_params(oauth_client, scope=scope)
    response = signed_in.get(authorize_url(params))
    assert_error_redirect(response, REGISTERED, "invalid_scope", params["state"])
    assert code_count(app) == 0


def test_scope_beyond_the_clients_registration_redirects_with_invalid_scope(
    signed_in: FlaskClient, make_client: Callable[..., ClientInfo], app: Flask
) -> None:
    read_only = make_client(scope="read")
    params = auth_params(read_only, scope="read_write")
    response = signed_in.get(authorize_url(params))
    assert_error_redirect(response, REGISTERED, "invalid_scope", params["state"])
    assert code_count(app) == 0


def test_scope_widened_in_the_consent_post_is_refused(
    signed_in: FlaskClient, make_client: Callable[..., ClientInfo], app: Flask
) -> None:
    read_only = make_client(scope="read")
    params = auth_params(read_only, scope="read")
    form = consent_form(signed_in.get(authorize_url(params)))
    fields = [(k, "read_write" if k == "scope" else v) for k, v in form_fields(form, "yes")]
    response = post_form(signed_in, fields)
    assert_error_redirect(response, REGISTERED, "invalid_scope", params["state"])
    assert code_count(app) == 0


def test_client_registered_only_for_read_write_gets_read_write_by_default(
    signed_in: FlaskClient, make_client: Callable[..., ClientInfo]
) -> None:
    writer = make_client(scope="read_write")
    verifier, challenge = pkce_pair()
    params = auth_params(writer, scope=None, code_challenge=challenge)
    response = consent_and_submit(signed_in, params)
    assert response.status_code == 302
    code = query_of(response.headers["Location"])["code"]
    token = signed_in.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": REGISTERED,
        },
        headers=writer.basic_auth,
    )
    assert token.status_code == 200, token.get_json()
    assert token.get_json()["scope"] == "read_write"


def test_client_with_both_scopes_gets_read_by_default(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    verifier, challenge = pkce_pair()
    params = auth_params(oauth_client, scope=None, code_challenge=challenge)
    response = consent_and_submit(signed_in, params)
    code = query_of(response.headers["Location"])["code"]
    token = signed_in.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": REGISTERED,
        },
        headers=oauth_client.basic_auth,
    )
    assert token.status_code == 200, token.get_json()
    assert token.get_json()["scope"] == "read"


def test_implicit_response_type_token_is_refused_by_redirect(
    signed_in: FlaskClient, oauth_client: ClientInfo, app: Flask
) -> None:
    params = auth_params(oauth_client, response_type="token")
    response = signed_in.get(authorize_url(params))
    assert_error_redirect(response, REGISTERED, "unsupported_response_type", params["state"])
    assert "access_token" not in response.headers["Location"]
    assert code_count(app) == 0


def test_implicit_flow_is_not_advertised(client: FlaskClient) -> None:
    metadata = client.get("/.well-known/oauth-authorization-server").get_json()
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]


@pytest.mark.parametrize("response_type", ["code token", "id_token", "code id_token", "CODE"])
def test_other_response_types_are_refused_by_redirect(
    signed_in: FlaskClient, oauth_client: ClientInfo, app: Flask, response_type: str
) -> None:
    params = auth_params(oauth_client, response_type=response_type)
    response = signed_in.get(authorize_url(params))
    assert_error_redirect(response, REGISTERED, "unsupported_response_type", params["state"])
    assert code_count(app) == 0


def test_missing_response_type_is_an_error_and_never_a_code(
    signed_in: FlaskClient, oauth_client: ClientInfo, app: Flask
) -> None:
    params = auth_params(oauth_client, response_type=None)
    response = signed_in.get(authorize_url(params))
    assert response.status_code in (302, 400)
    assert error_of(response)
    if response.status_code == 302:
        assert "code" not in query_of(response.headers["Location"])
    # Nor when the consent form is posted without it.
    good = consent_form(signed_in.get(authorize_url(auth_params(oauth_client))))
    fields = [(k, v) for k, v in form_fields(good, "yes") if k != "response_type"]
    posted = post_form(signed_in, fields)
    assert posted.status_code in (302, 400)
    assert error_of(posted)
    if posted.status_code == 302:
        assert "code" not in query_of(posted.headers["Location"])
    assert code_count(app) == 0


def test_client_not_registered_for_the_code_grant_is_refused(
    signed_in: FlaskClient, make_client: Callable[..., ClientInfo], app: Flask
) -> None:
    machine = make_client(grant_types=["client_credentials"])
    params = auth_params(machine)
    response = signed_in.get(authorize_url(params))
    assert_error_redirect(response, REGISTERED, "unauthorized_client", params["state"])
    assert code_count(app) == 0


def _register_dynamic_client(client: FlaskClient, redirect_uri: str) -> ClientInfo:
    response = client.post(
        "/register", json={"client_name": "Some MCP client", "redirect_uris": [redirect_uri]}
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    return ClientInfo(body["client_id"], None, redirect_uri, body["scope"])


def test_dynamically_registered_client_gets_the_consent_page(
    signed_in: FlaskClient, app: Flask
) -> None:
    dynamic = _register_dynamic_client(signed_in, "https://attacker.example/cb")
    params = auth_params(dynamic, scope="read")
    form = consent_form(signed_in.get(authorize_url(params)))
    assert form.hidden()["client_id"] == [dynamic.client_id]
    assert code_count(app) == 0


@pytest.mark.parametrize(
    "defect",
    [
        pytest.param({"scope": "admin"}, id="bad-scope"),
        pytest.param({"response_type": "token"}, id="implicit"),
        pytest.param({"code_challenge": None}, id="no-pkce"),
    ],
)
def test_errors_for_dynamically_registered_clients_are_not_auto_redirected(
    signed_in: FlaskClient, app: Flask, defect: dict[str, str | None]
) -> None:
    """Checklist 24 / RFC 9700 §4.11.2: anyone can register a client with any https redirect
    URI, so a malformed request must not turn the server into an open redirector; the error
    is shown to the user instead."""
    dynamic = _register_dynamic_client(signed_in, "https://attacker.example/cb")
    params = auth_params(dynamic, **defect)
    response = signed_in.get(authorize_url(params))
    assert "attacker.example" not in response.headers.get("Location", "")
    assert response.status_code == 400
    assert error_of(response)
    assert code_count(app) == 0


# --- duplicate parameters (RFC 6749 §3.1) -------------------------------------------------


@pytest.mark.parametrize(
    "param",
    [
        "state",
        "client_id",
        "redirect_uri",
        "scope",
        "response_type",
        "code_challenge",
        "code_challenge_method",
    ],
)
def test_duplicate_parameter_is_invalid_request_and_never_a_code(
    signed_in: FlaskClient, oauth_client: ClientInfo, app: Flask, param: str
) -> None:
    params = auth_params(oauth_client)
    duplicated = {
        "state": "other-state",
        "client_id": oauth_client.client_id,
        "redirect_uri": REGISTERED,
        "scope": "read",
        "response_type": "code",
        "code_challenge": pkce_pair()[1],
        "code_challenge_method": "S256",
    }[param]
    pairs = [*params.items(), (param, duplicated)]
    response = signed_in.get(authorize_url(pairs))
    assert response.status_code in (302, 400), response.get_data(as_text=True)
    assert error_of(response) == "invalid_request"
    if response.status_code == 302:
        _, query = split_location(response)
        assert "code" not in query
        assert query["iss"] == [ISSUER]
    assert code_count(app) == 0


@pytest.mark.parametrize("param", ["state", "redirect_uri", "code_challenge"])
def test_duplicate_parameter_in_the_consent_post_is_refused(
    signed_in: FlaskClient, oauth_client: ClientInfo, app: Flask, param: str
) -> None:
    params = auth_params(oauth_client)
    form = consent_form(signed_in.get(authorize_url(params)))
    extra = {"state": "other-state", "redirect_uri": REGISTERED, "code_challenge": pkce_pair()[1]}[
        param
    ]
    response = post_form(signed_in, [*form_fields(form, "yes"), (param, extra)])
    assert error_of(response) == "invalid_request"
    if response.status_code == 302:
        assert "code" not in query_of(response.headers["Location"])
    assert code_count(app) == 0


# --- authorization codes ----------------------------------------------------------------------


def test_code_lifetime_defaults_to_at_most_ten_minutes(
    signed_in: FlaskClient, oauth_client: ClientInfo, app: Flask
) -> None:
    from app.extensions import db
    from app.oauth2.models import AuthorizationCode

    assert 0 < app.config["OAUTH2_AUTHORIZATION_CODE_LIFETIME"] <= 600
    response = consent_and_submit(signed_in, auth_params(oauth_client))
    assert response.status_code == 302
    with app.app_context():
        item = db.session.scalars(select(AuthorizationCode)).one()
        lifetime = (item.expires_at - item.created_at).total_seconds()
        db.session.remove()
    assert 0 < lifetime <= 600


@pytest.mark.config(OAUTH2_AUTHORIZATION_CODE_LIFETIME=60)
def test_code_lifetime_follows_the_configuration(
    signed_in: FlaskClient, oauth_client: ClientInfo, app: Flask
) -> None:
    from app.extensions import db
    from app.oauth2.models import AuthorizationCode

    consent_and_submit(signed_in, auth_params(oauth_client))
    with app.app_context():
        item = db.session.scalars(select(AuthorizationCode)).one()
        lifetime = (item.expires_at - item.created_at).total_seconds()
        db.session.remove()
    assert lifetime == 60


def test_code_is_bound_to_its_client_and_redirect_uri(
    signed_in: FlaskClient, oauth_client: ClientInfo, make_client: Callable[..., ClientInfo]
) -> None:
    verifier, challenge = pkce_pair()
    params = auth_params(oauth_client, code_challenge=challenge)
    response = consent_and_submit(signed_in, params)
    code = query_of(response.headers["Location"])["code"]
    auth = Authorized(code, verifier, params["state"], response.headers["Location"])
    other = make_client(name="Other App")
    stolen = exchange_code(signed_in, other, auth)
    assert stolen.status_code == 400
    assert stolen.get_json()["error"] == "invalid_grant"
    wrong_uri = exchange_code(
        signed_in, oauth_client, auth, redirect_uri="https://client.example/other"
    )
    assert wrong_uri.status_code == 400
    assert wrong_uri.get_json()["error"] == "invalid_grant"
    ok = exchange_code(signed_in, oauth_client, auth)
    assert ok.status_code == 200, ok.get_json()
    assert ok.get_json()["scope"] == "read"
