"""Web sign-in through a real OpenID provider (tests/support/idp.py): start, callback, linked
identities, JIT accounts, the link page, the second factor, failures."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient

from tests.sso.web_sso import CALLBACK, configure, sign_in, signed_in, start
from tests.support.idp import UpstreamIdp


def test_start_redirects_to_the_provider_with_pkce_s256_nonce_and_state(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp
) -> None:
    configure(app, upstream_idp)
    started = start(client)
    assert started.status_code == 302
    url = started.headers["Location"]
    assert url.startswith(upstream_idp.metadata()["authorization_endpoint"] + "?")
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert params["response_type"] == "code"
    assert params["client_id"] == upstream_idp.client_id
    assert params["redirect_uri"] == CALLBACK
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert len(params["nonce"]) >= 20
    assert len(params["state"]) >= 20
    assert set(params["scope"].split()) == {"openid", "email", "profile"}


def test_first_sign_in_creates_an_account_in_its_own_family_and_signs_in(
    app: Flask, client: FlaskClient, upstream_idp: UpstreamIdp
) -> None:
    configure(app, upstream_idp)
    person = upstream_idp.add_user("new.person@jit.example", given_name="New", family_name="Person")
    answer = sign_in(client, upstream_idp, person)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/"
    assert signed_in(client)
    from sqlalchemy import select

    from app.extensions import db
    from app.identity.users import find_by_email
    from app.sso.models import SsoIdentity

    with app.app_context():
        user = find_by_email("new.person@jit.example")
        assert user is not None
        assert (user.first_name, user.last_name, user.password_hash) == ("New", "Person", None)
        assert user.role in ("admin", "super_admin")
        link_row = db.session.scalar(select(SsoIdentity).where(SsoIdentity.user_id == user.id))
        assert (link_row.issuer, link_row.subject) == (upstream_idp.issuer, person.sub)
