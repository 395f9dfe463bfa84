"""The test OpenID provider itself (tests/idp, fixture in tests/support/idp.py): discovery, a full
code + PKCE + nonce round trip with Authlib's Flask client validating the ID token, the error and
user/client knobs other tests rely on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.integrations.flask_client import OAuth
from flask import (
    Flask,
    jsonify,
    request,  # noqa: TID251  (this module's relying party is a view)
)
from flask.testing import FlaskClient
from werkzeug.wrappers import Response

from tests.support.idp import IdpSignInError, UpstreamClient, UpstreamIdp, sign_in_at_idp

CALLBACK = "http://localhost/auth/upstream/callback"


@pytest.fixture(autouse=True)
def _plain_http_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    # Authlib refuses http:// token endpoints unless told; the provider is on loopback only.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


def relying_party(idp: UpstreamIdp, client: UpstreamClient, scope: str) -> Flask:
    """A minimal relying party: Authlib's Flask client with discovery, PKCE S256 and a nonce;
    authorize_access_token validates the ID token (signature via JWKS, iss, aud, exp, nonce)."""
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "relying party"
    oauth = OAuth(app)
    oauth.register(
        "upstream",
        client_id=client.client_id,
        client_secret=client.client_secret,
        server_metadata_url=idp.discovery_url,
        client_kwargs={
            "scope": scope,
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": client.token_endpoint_auth_method,
        },
    )

    @app.get("/login")
    def login() -> Response:
        return oauth.upstream.authorize_redirect(CALLBACK)  # type: ignore[no-any-return]

    @app.get("/auth/upstream/callback")
    def callback() -> Any:
        if "error" in request.args:
            return jsonify(error=request.args["error"]), 400
        token = oauth.upstream.authorize_access_token()
        return jsonify(
            id_token_claims=dict(token["userinfo"]),
            userinfo=dict(oauth.upstream.userinfo(token=token)),
            refresh_token=token.get("refresh_token"),
        )

    return app


@pytest.fixture
def rp(upstream_idp: UpstreamIdp) -> Iterator[FlaskClient]:
    with relying_party(
        upstream_idp, upstream_idp.client, "openid email profile"
    ).test_client() as c:
        yield c


def start(rp: FlaskClient) -> str:
    answer = rp.get("/login")
    assert answer.status_code == 302
    return answer.headers["Location"]


def finish(rp: FlaskClient, callback_url: str) -> Any:
    parts = urlsplit(callback_url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == CALLBACK
    return rp.get(f"{parts.path}?{parts.query}")


def test_discovery_names_the_loopback_issuer_and_its_endpoints(upstream_idp: UpstreamIdp) -> None:
    metadata = upstream_idp.metadata()
    assert metadata["issuer"] == upstream_idp.issuer
    assert upstream_idp.issuer.startswith("http://127.0.0.1:")
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert {"client_secret_basic", "client_secret_post"} <= set(
        metadata["token_endpoint_auth_methods_supported"]
    )
    assert {"openid", "email", "profile"} <= set(metadata["scopes_supported"])
    keys = requests.get(metadata["jwks_uri"], timeout=10).json()["keys"]
    assert keys and all("d" not in key for key in keys)  # public halves only


def test_code_pkce_nonce_round_trip_with_a_validated_id_token(
    upstream_idp: UpstreamIdp, rp: FlaskClient
) -> None:
    authorize_url = start(rp)
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"]

    browser = requests.Session()
    callback = upstream_idp.sign_in_at_idp(browser, authorize_url)
    returned = parse_qs(urlsplit(callback).query)
    assert returned["state"] == query["state"] and returned["iss"] == [upstream_idp.issuer]

    answer = finish(rp, callback)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    user = upstream_idp.user
    claims = answer.json["id_token_claims"]
    assert claims["iss"] == upstream_idp.issuer and claims["aud"] == upstream_idp.client_id
    assert claims["sub"] == user.sub and claims["nonce"] == query["nonce"][0]
    assert (claims["email"], claims["email_verified"]) == (user.email, True)
    assert (claims["given_name"], claims["family_name"]) == (user.given_name, user.family_name)
    assert answer.json["userinfo"]["email"] == user.email

    # The provider remembers the person: the same browser goes straight back, no pages.
    second = browser.get(start(rp), allow_redirects=False, timeout=10)
    assert second.is_redirect and second.headers["Location"].startswith(CALLBACK)


def test_the_code_is_bound_to_the_pkce_verifier(upstream_idp: UpstreamIdp) -> None:
    authorize_url = (
        f"{upstream_idp.issuer}/auth?response_type=code&client_id={upstream_idp.client_id}"
        f"&redirect_uri={CALLBACK}&scope=openid&state=s&nonce=n"
        "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGjSstw-cM&code_challenge_method=S256"
    )
    callback = upstream_idp.sign_in_at_idp(requests.Session(), authorize_url)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    answer = requests.post(
        f"{upstream_idp.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": "not-the-verifier-" + "x" * 40,
        },
        auth=(upstream_idp.client_id, upstream_idp.client_secret),
        timeout=10,
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_pkce_is_required(upstream_idp: UpstreamIdp) -> None:
    authorize_url = (
        f"{upstream_idp.issuer}/auth?response_type=code&client_id={upstream_idp.client_id}"
        f"&redirect_uri={CALLBACK}&scope=openid&state=s&nonce=n"
    )
    callback = upstream_idp.sign_in_at_idp(requests.Session(), authorize_url)
    assert parse_qs(urlsplit(callback).query)["error"] == ["invalid_request"]


def test_deny_at_the_login_page_sends_access_denied(
    upstream_idp: UpstreamIdp, rp: FlaskClient
) -> None:
    authorize_url = start(rp)
    callback = upstream_idp.sign_in_at_idp(requests.Session(), authorize_url, action="deny")
    returned = parse_qs(urlsplit(callback).query)
    assert returned["error"] == ["access_denied"]
    assert returned["state"] == parse_qs(urlsplit(authorize_url).query)["state"]
    assert finish(rp, callback).json == {"error": "access_denied"}


def test_deny_at_the_consent_page_sends_access_denied(upstream_idp: UpstreamIdp) -> None:
    authorize_url = start(relying_party(upstream_idp, upstream_idp.client, "openid").test_client())
    callback = upstream_idp.sign_in_at_idp(requests.Session(), authorize_url, consent="deny")
    assert parse_qs(urlsplit(callback).query)["error"] == ["access_denied"]


def test_a_wrong_password_stays_at_the_provider(upstream_idp: UpstreamIdp, rp: FlaskClient) -> None:
    with pytest.raises(IdpSignInError, match="Invalid login or password"):
        sign_in_at_idp(
            requests.Session(), start(rp), login=upstream_idp.user.login, password="wrong"
        )


def test_an_unregistered_redirect_uri_is_an_error_page_not_a_redirect(
    upstream_idp: UpstreamIdp,
) -> None:
    authorize_url = (
        f"{upstream_idp.issuer}/auth?response_type=code&client_id={upstream_idp.client_id}"
        "&redirect_uri=http://localhost/elsewhere&scope=openid&state=s&nonce=n"
        "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGjSstw-cM&code_challenge_method=S256"
    )
    with pytest.raises(IdpSignInError, match="redirect_uri"):
        upstream_idp.sign_in_at_idp(requests.Session(), authorize_url)


def test_added_and_changed_users_sign_in_with_their_claims(upstream_idp: UpstreamIdp) -> None:
    bob = upstream_idp.add_user("bob@elsewhere.example", email_verified=False, given_name="Bob")
    rp = relying_party(upstream_idp, upstream_idp.client, "openid email profile").test_client()
    callback = upstream_idp.sign_in_at_idp(
        requests.Session(), start(rp), login=bob.login, password=bob.password
    )
    claims = finish(rp, callback).json["id_token_claims"]
    assert (claims["sub"], claims["email"], claims["email_verified"]) == (
        bob.sub,
        "bob@elsewhere.example",
        False,
    )

    upstream_idp.set_user(bob.sub, email="robert@elsewhere.example", email_verified=True)
    callback = upstream_idp.sign_in_at_idp(
        requests.Session(), start(rp), login=bob.login, password=bob.password
    )
    claims = finish(rp, callback).json["id_token_claims"]
    assert (claims["sub"], claims["email"], claims["email_verified"]) == (
        bob.sub,
        "robert@elsewhere.example",
        True,
    )


def test_a_client_secret_post_client_with_its_own_redirect_uri(upstream_idp: UpstreamIdp) -> None:
    client = upstream_idp.add_client([CALLBACK], token_endpoint_auth_method="client_secret_post")
    rp = relying_party(upstream_idp, client, "openid email").test_client()
    callback = upstream_idp.sign_in_at_idp(requests.Session(), start(rp))
    answer = finish(rp, callback)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.json["id_token_claims"]["aud"] == client.client_id
    assert "given_name" not in answer.json["userinfo"]  # profile was not asked for


def test_claims_only_from_userinfo_when_told(upstream_idp: UpstreamIdp) -> None:
    upstream_idp.set_claims_in_id_token(False)
    try:
        rp = relying_party(upstream_idp, upstream_idp.client, "openid email").test_client()
        answer = finish(rp, upstream_idp.sign_in_at_idp(requests.Session(), start(rp)))
        assert "email" not in answer.json["id_token_claims"]
        assert answer.json["userinfo"]["email"] == upstream_idp.user.email
    finally:
        upstream_idp.set_claims_in_id_token(True)
