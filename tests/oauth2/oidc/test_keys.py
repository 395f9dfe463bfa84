"""The JWKS and signing-key rotation (``flask keys rotate`` / ``keys list``): the new key
signs at once; the old public key stays published while ID tokens it signed can be alive,
then leaves; private halves are stored encrypted."""

from __future__ import annotations

import json
import time

import pytest
from joserfc import jws

from tests.support.oidc import make_oidc_client, sign_in_with_openid, verify_id_token


@pytest.fixture
def oidc_client(app):
    return make_oidc_client(app)


def _kids(client) -> set[str]:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    return {key["kid"] for key in response.get_json()["keys"]}


def _kid_of(id_token: str) -> str:
    return jws.extract_compact(id_token.encode()).protected["kid"]


def _cli(app, *args: str) -> dict:
    result = app.test_cli_runner().invoke(args=["keys", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_jwks_publishes_one_public_key_per_algorithm(client):
    keys = client.get("/.well-known/jwks.json").get_json()["keys"]
    assert sorted(key["alg"] for key in keys) == ["ES256", "RS256"]
    for key in keys:
        assert key["use"] == "sig" and key["kid"]
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)  # never a private part
    rsa = next(key for key in keys if key["alg"] == "RS256")
    assert rsa["kty"] == "RSA" and rsa["e"] and rsa["n"]
    ec = next(key for key in keys if key["alg"] == "ES256")
    assert ec["kty"] == "EC" and ec["crv"] == "P-256"
    # Generated once: the same keys on the next request.
    assert _kids(client) == {key["kid"] for key in keys}


@pytest.mark.config(AUTO_MIGRATE=True)
def test_keys_are_generated_at_start(app):
    """Like the other secrets, before anything needs them (a start that migrates)."""
    from app.extensions import db
    from app.oauth2.oidc.models import SigningKey

    with app.app_context():
        rows = db.session.query(SigningKey).all()
        assert sorted(row.alg for row in rows) == ["ES256", "RS256"]


def test_private_keys_are_stored_encrypted(app, client):
    from app.extensions import db
    from app.oauth2.oidc.models import SigningKey

    client.get("/.well-known/jwks.json")
    with app.app_context():
        rows = db.session.query(SigningKey).all()
        assert len(rows) == 2
        for row in rows:
            assert row.private_jwk_encrypted
            assert '"d"' not in row.private_jwk_encrypted
            assert row.public_jwk["kid"] not in row.private_jwk_encrypted


@pytest.mark.config(OIDC_ID_TOKEN_LIFETIME=2)
def test_rotation_keeps_the_old_key_while_its_tokens_live(app, signed_in, oidc_client):
    _, _, before = sign_in_with_openid(signed_in, oidc_client)
    old_kid = _kid_of(before["id_token"])
    listed = _cli(app, "list")["keys"]
    assert {key["state"] for key in listed} == {"active"}

    rotated = _cli(app, "rotate")["active"]
    assert sorted(key["alg"] for key in rotated) == ["ES256", "RS256"]
    new_kids = {key["kid"] for key in rotated}
    assert old_kid not in new_kids
    # Both published: a token signed before the rotation still verifies.
    assert old_kid in _kids(signed_in) and new_kids <= _kids(signed_in)
    verify_id_token(signed_in, before["id_token"], client_id=oidc_client.client_id)
    states = {key["kid"]: key["state"] for key in _cli(app, "list")["keys"]}
    assert states[old_kid] == "retired (published)"

    # The new key signs from now on.
    _, _, after = sign_in_with_openid(signed_in, oidc_client)
    assert _kid_of(after["id_token"]) in new_kids

    time.sleep(2.2)  # every ID token of the old key has expired (lifetime 2 s)
    assert old_kid not in _kids(signed_in)
    assert new_kids <= _kids(signed_in)
    states = {key["kid"]: key["state"] for key in _cli(app, "list")["keys"]}
    assert states[old_kid] == "expired"


def test_a_retired_key_loses_its_private_half_and_the_rotation_is_audited(app, client):
    from app.audit.models import AuditEvent
    from app.extensions import db
    from app.oauth2.oidc.models import SigningKey

    before = client.get("/.well-known/jwks.json").get_json()["keys"]
    rotated = _cli(app, "rotate")["active"]
    with app.app_context():
        event = db.session.query(AuditEvent).filter_by(event="oidc.signing_keys.rotated").one()
        assert sorted(event.details["retired_kids"]) == sorted(key["kid"] for key in before)
        assert sorted(event.details["new_kids"]) == sorted(key["kid"] for key in rotated)
    with app.app_context():
        retired = db.session.query(SigningKey).filter(SigningKey.retired_at.is_not(None)).all()
        assert len(retired) == 2
        assert all(row.private_jwk_encrypted is None for row in retired)
