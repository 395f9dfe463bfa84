"""The token endpoint (seed 000, C26, T26, T31) and the JWTs it issues on a protected route
(T2, T10, T11, T28): text/plain by default, JSON when asked, one generic 401, throttled; every
request re-checks the key, the token, the user and the IP restrictions."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import timedelta

import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import OctKey
from sqlalchemy import select, update

from app.clock import epoch, utcnow
from tests.support.config import ACCESS_KEY_JWT_KEY, SECRET_KEY_JWT_KEY
from tests.support.secretkeys import (
    TOKEN,
    call,
    issue,
    key_from,
    latest_link,
    reveal,
    signed_in,
)

HOUR = 3600


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def header_of(token: str) -> dict:
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


# --- issuing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("accept", ["text/plain", "*/*", None])
def test_the_bare_jwt_as_text_plain_by_default(client, user, secret, accept) -> None:
    response = issue(client, user.email, secret, accept=accept)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert "no-store" in response.headers["Cache-Control"]
    token = response.get_data(as_text=True)
    assert token.count(".") == 2 and "\n" not in token
    assert header_of(token)["alg"] == "HS512"
    assert header_of(token)["typ"] == "sk+jwt"
    assert call(client, token).status_code == 200


def test_json_when_asked(client, user, secret) -> None:
    before = epoch(utcnow())
    response = issue(client, user.email, secret, accept="application/json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "no-store" in response.headers["Cache-Control"]
    body = response.get_json()
    assert set(body) == {"token", "token_type", "expires_in", "expires_at"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == HOUR
    assert body["expires_at"].endswith("Z")
    claims = claims_of(body["token"])
    assert claims["exp"] - claims["iat"] == HOUR
    assert before <= claims["iat"] <= before + 5


def test_the_root_alias_and_the_seed_curl_shape(app, client, user, secret) -> None:
    """The seed's curl: POST, Content-Type json, Accept text/plain, the two headers, no body."""
    response = client.post(
        "/auth/token",
        headers={
            "Content-Type": "application/json",
            "Accept": "text/plain",
            "X-client-secret": secret,
            "X-email": user.email.upper(),  # emails match case-insensitively
        },
    )
    assert response.status_code == 200
    assert response.mimetype == "text/plain"


def test_claims(app, client, user, secret) -> None:
    from app.extensions import db
    from app.secretkeys.models import SecretKey, SecretKeyToken

    token = issue(client, user.email, secret).get_data(as_text=True)
    claims = claims_of(token)
    header = header_of(token)
    assert set(claims) == {"iss", "iat", "exp", "sub", "tid", "skid", "gen", "jti"}
    assert header["kid"]
    assert claims["sub"] == str(user.id)
    assert claims["tid"] == str(user.family_id)
    assert claims["gen"] == 1
    assert claims["iss"] == "https://auth.tollgate.test"
    with app.app_context():
        key = db.session.scalar(select(SecretKey))
        assert claims["skid"] == str(key.id)
        row = db.session.get(SecretKeyToken, claims["jti"])
        assert row.user_id == user.id and row.family_id == user.family_id
    # Signed with the server's key, never the user's secret (C3, T4).
    OctKey.import_key(SECRET_KEY_JWT_KEY.encode())
    jose_jwt.decode(token, OctKey.import_key(SECRET_KEY_JWT_KEY.encode()), algorithms=["HS512"])
    with pytest.raises(Exception):
        jose_jwt.decode(token, OctKey.import_key(secret.encode()), algorithms=["HS512"])


@pytest.mark.config(SECRET_KEY_JWT_LIFETIME=600)
def test_the_lifetime_is_configurable(client, user, secret) -> None:
    body = issue(client, user.email, secret, accept="application/json").get_json()
    assert body["expires_in"] == 600
    claims = claims_of(body["token"])
    assert claims["exp"] - claims["iat"] == 600


@pytest.mark.parametrize("missing", ["X-email", "X-client-secret", "both"])
def test_a_missing_header_is_400_json(client, user, secret, missing) -> None:
    headers = {"X-email": user.email, "X-client-secret": secret, "Accept": "text/plain"}
    if missing == "both":
        headers = {"Accept": "text/plain"}
    else:
        headers.pop(missing)
    for path in (TOKEN, "/auth/token"):
        response = client.post(path, headers=headers)
        assert response.status_code == 400
        assert response.mimetype == "application/json"  # errors are always JSON (T31)
        assert response.get_json()["error"] == "bad_request"


def _deactivate(app, user) -> None:  # type: ignore[no-untyped-def]
    from app.extensions import db
    from app.identity.models import User

    with app.app_context():
        db.session.get(User, user.id).active = False
        db.session.commit()


def test_one_generic_401_for_every_failure(app, client, ska, user, secret, make_user) -> None:
    bob = make_user(email="bob@example.com", family_id=user.family_id)
    assert ska.add(bob).status_code == 201  # bob's key is pending (not revealed)
    failures = [
        ("nobody@example.com", secret),  # unknown email
        (user.email, str(uuid.uuid4())),  # wrong secret
        (user.email, secret[:-1]),
        (bob.email, secret),  # pending key
        (bob.email, ""),
    ]
    bodies = set()
    for email, attempt in failures:
        for path in (TOKEN, "/auth/token"):
            response = client.post(
                path, headers={"X-email": email, "X-client-secret": attempt or "x"}
            )
            assert response.status_code == 401, (email, response.get_data(as_text=True))
            assert response.mimetype == "application/json"
            bodies.add(response.get_data(as_text=True))
    assert ska.revoke(user).status_code == 200  # revoked key
    bodies.add(issue(client, user.email, secret, accept="application/json").get_data(as_text=True))
    assert len(bodies) == 1
    assert json.loads(bodies.pop()) == {
        "error": "unauthorized",
        "message": "Invalid email or secret key",
    }


def test_an_inactive_user_gets_the_same_401(app, client, user, secret) -> None:
    _deactivate(app, user)
    response = issue(client, user.email, secret, accept="application/json")
    assert response.status_code == 401
    assert response.get_json()["message"] == "Invalid email or secret key"


def test_unknown_email_does_the_same_work(app, client, user, secret, monkeypatch) -> None:
    """A digest is computed and compared for an unknown email too (T26)."""
    from app import crypto

    calls: list[tuple] = []
    real = crypto.verify_digest

    def spy(value, stored):  # type: ignore[no-untyped-def]
        calls.append((value is not None, stored))
        return real(value, stored)

    monkeypatch.setattr(crypto, "verify_digest", spy)
    issue(client, "nobody@example.com", secret)
    issue(client, user.email, "wrong")
    assert [c[0] for c in calls] == [True, True]
    assert calls[0][1] is None  # compared against the dummy digest
    assert calls[1][1] is not None


@pytest.mark.config(RATE_LIMIT_SECRET_KEY_TOKEN_EMAIL="3 per 15 minutes")
def test_throttled_per_email_with_retry_after(app, client, user, secret) -> None:
    for _ in range(3):
        assert issue(client, user.email, "wrong").status_code == 401
    response = issue(client, user.email, secret)
    assert response.status_code == 429
    assert response.mimetype == "application/json"
    assert int(response.headers["Retry-After"]) > 0
    assert response.get_json()["error"] == "rate_limit_exceeded"
    # Another account from the same IP is not affected by alice's budget.
    assert issue(client, "other@example.com", "x").status_code == 401


@pytest.mark.config(RATE_LIMIT_SECRET_KEY_TOKEN_IP="3 per 15 minutes")
def test_throttled_per_ip(app, client, user, secret) -> None:
    for n in range(3):
        assert issue(client, f"nobody{n}@example.com", "x", ip="198.51.100.9").status_code == 401
    assert issue(client, user.email, secret, ip="198.51.100.9").status_code == 429
    assert issue(client, user.email, secret, ip="198.51.100.10").status_code == 200


@pytest.mark.config(RATE_LIMIT_SECRET_KEY_TOKEN_EMAIL="3 per 15 minutes")
def test_successes_do_not_use_up_the_budget(client, user, secret) -> None:
    for _ in range(6):
        assert issue(client, user.email, secret).status_code == 200


def test_issuing_is_audited_without_the_secret(app, client, user, secret) -> None:
    token = issue(client, user.email, secret).get_data(as_text=True)
    issue(client, user.email, "wrong")
    from app.audit.models import AuditEvent
    from app.extensions import db

    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.event == "secret_key.token_issued")
            .order_by(AuditEvent.id)
        ).all()
    assert [e.outcome for e in events] == ["success", "failure"]
    assert events[0].details["jti"] == claims_of(token)["jti"]
    for event in events:
        assert secret not in repr(event.details)
        assert token not in repr(event.details)
        assert "wrong" not in repr(event.details)


# --- using the JWT --------------------------------------------------------------------------


def test_the_jwt_lists_the_tenants_tasks(app, client, jwt, user, make_task, make_user) -> None:
    make_task(user.family_id, "Rotate the backups")
    make_task(make_user(email="elsewhere@example.com").family_id, "Another tenant's task")
    response = call(client, jwt)
    assert response.status_code == 200
    body = response.get_json()
    assert [task["title"] for task in body["tasks"]] == ["Rotate the backups"]
    assert body["pagination"]["total_count"] == 1


def test_the_jwt_carries_the_users_live_permissions(app, client, jwt, user) -> None:
    """The user inherits their permissions, read at use: a guest cannot list tasks."""
    from app.extensions import db
    from app.identity.models import User

    assert call(client, jwt).status_code == 200
    with app.app_context():
        db.session.get(User, user.id).role = "guest"
        db.session.commit()
    assert call(client, jwt).status_code == 403


def test_the_jwt_is_a_credential_of_the_rest_api(client, jwt) -> None:
    assert call(client, jwt, "/api/v1/accounts").status_code == 200
    assert call(client, jwt, "/account/security").status_code == 302  # pages: session only


def _forge(claims: dict, *, key: bytes, alg: str = "HS512", typ: str = "sk+jwt", kid=None):
    header = {"alg": alg, "typ": typ}
    if kid is not None:
        header["kid"] = kid
    return jose_jwt.encode(header, claims, OctKey.import_key(key), algorithms=[alg])


def _unsigned(claims: dict, header: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


def test_tampered_and_foreign_tokens_are_401(app, client, jwt) -> None:
    claims = claims_of(jwt)
    header = header_of(jwt)
    key = SECRET_KEY_JWT_KEY.encode()
    head, payload, signature = jwt.split(".")
    other_user = {**claims, "sub": str(uuid.uuid4())}
    tampered_payload = base64.urlsafe_b64encode(json.dumps(other_user).encode()).rstrip(b"=")
    bad = {
        "alg none": _unsigned(claims, {**header, "alg": "none"}),
        "alg none, no signature": _unsigned(claims, {"alg": "none", "typ": "sk+jwt"}),
        "HS256 with the right key": _forge(claims, key=key, alg="HS256", kid=header["kid"]),
        "HS512 with another key": _forge(claims, key=b"k" * 64, kid=header["kid"]),
        "tampered payload": f"{head}.{tampered_payload.decode()}.{signature}",
        "tampered signature": f"{head}.{payload}.{signature[:-4]}AAAA",
        "wrong typ": _forge(claims, key=key, typ="ak+jwt", kid=header["kid"]),
        "no typ": jose_jwt.encode(
            {"alg": "HS512", "kid": header["kid"]}, claims, OctKey.import_key(key), ["HS512"]
        ),
        "access-key profile": _forge(
            claims, key=ACCESS_KEY_JWT_KEY.encode(), alg="HS256", typ="ak+jwt"
        ),
        "right key, no kid": _forge(claims, key=key),
        "unknown jti": _forge({**claims, "jti": uuid.uuid4().hex}, key=key, kid=header["kid"]),
        "another generation": _forge({**claims, "gen": 2}, key=key, kid=header["kid"]),
        "another key id": _forge({**claims, "skid": str(uuid.uuid4())}, key=key, kid=header["kid"]),
        "another tenant": _forge({**claims, "tid": str(uuid.uuid4())}, key=key, kid=header["kid"]),
        "another user": _forge(other_user, key=key, kid=header["kid"]),
        "missing jti": _forge(
            {k: v for k, v in claims.items() if k != "jti"}, key=key, kid=header["kid"]
        ),
        "another issuer": _forge({**claims, "iss": "https://evil"}, key=key, kid=header["kid"]),
    }
    for name, token in bad.items():
        response = call(client, token)
        assert response.status_code == 401, name
        assert response.get_json()["error"] == "unauthorized", name
        assert "invalid_token" in response.headers["WWW-Authenticate"], name
    assert call(client, jwt).status_code == 200  # the real one still works


def test_an_expired_token_is_401(app, client, jwt) -> None:
    claims = claims_of(jwt)
    header = header_of(jwt)
    key = SECRET_KEY_JWT_KEY.encode()
    now = int(time.time())
    expired = _forge({**claims, "iat": now - 2 * HOUR, "exp": now - 61}, key=key, kid=header["kid"])
    assert call(client, expired).status_code == 401
    within_leeway = _forge(
        {**claims, "iat": now - HOUR, "exp": now - 30}, key=key, kid=header["kid"]
    )
    assert call(client, within_leeway).status_code == 200  # ±60 s skew, no more (T32)


def test_revoking_the_key_kills_its_tokens_at_once(app, client, ska, user, jwt) -> None:
    assert call(client, jwt).status_code == 200
    assert ska.revoke(user).status_code == 200
    assert call(client, jwt).status_code == 401


def test_deactivating_the_user_kills_the_tokens(app, client, user, jwt) -> None:
    assert call(client, jwt).status_code == 200
    _deactivate(app, user)
    response = call(client, jwt)
    assert response.status_code == 401
    assert response.get_json()["message"] == "Account has been deactivated"


def test_revoking_one_token_leaves_the_others(app, client, ska, user, secret) -> None:
    first = issue(client, user.email, secret).get_data(as_text=True)
    second = issue(client, user.email, secret).get_data(as_text=True)
    listed = ska.tokens(user).get_json()["tokens"]
    assert {t["jti"] for t in listed} == {claims_of(first)["jti"], claims_of(second)["jti"]}
    assert all(t["status"] == "active" for t in listed)
    assert not any(first in json.dumps(t) for t in listed)

    revoked = ska.revoke_token(claims_of(first)["jti"])
    assert revoked.status_code == 200
    assert revoked.get_json()["status"] == "revoked"
    assert call(client, first).status_code == 401
    assert call(client, second).status_code == 200
    assert ska.revoke_token(claims_of(first)["jti"]).status_code == 200  # idempotent
    assert ska.revoke_token("unknown").status_code == 404


def test_another_familys_ska_cannot_revoke_the_token(app, as_admin, make_user, client, jwt):
    from tests.support.factories import grant_role as grant

    other = make_user(email="other-ska@example.com")
    grant(app, other, "secret_key_administrator")
    assert as_admin(other).revoke_token(claims_of(jwt)["jti"]).status_code == 404
    assert call(client, jwt).status_code == 200


def test_a_key_rotation_kills_the_old_keys_tokens(app, client, ska, user, secret, jwt) -> None:
    assert ska.revoke(user).status_code == 200
    assert ska.add(user).status_code == 201
    new_secret = key_from(reveal(signed_in(app, user), latest_link(app, user.email)))
    assert new_secret != secret
    assert call(client, jwt).status_code == 401
    assert issue(client, user.email, secret).status_code == 401  # the old key is dead
    new_token = issue(client, user.email, new_secret).get_data(as_text=True)
    assert claims_of(new_token)["gen"] == 2
    assert call(client, new_token).status_code == 200


def test_no_database_write_per_request(app, client, jwt) -> None:
    from sqlalchemy import event

    from app.extensions import db

    writes: list[str] = []

    def spy(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", spy)
    try:
        for _ in range(3):
            assert call(client, jwt).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", spy)
    assert writes == []


def test_token_rows_are_purged_after_expiry(app, client, user, secret) -> None:
    from app.extensions import db
    from app.secretkeys.models import RevealLink, SecretKeyToken
    from app.secretkeys.services import tokens

    issue(client, user.email, secret)
    with app.app_context():
        db.session.execute(
            update(SecretKeyToken).values(expires_at=utcnow() - timedelta(minutes=5))
        )
        db.session.commit()
        purged = tokens.purge_expired(now=utcnow() + timedelta(days=8), batch_size=10)
        assert purged == {"secret_key_tokens": 1, "secret_key_reveal_links": 1}
        assert db.session.scalar(select(SecretKeyToken)) is None
        assert db.session.scalar(select(RevealLink)) is None
