"""app.jwtprofile: a token of one profile verifies only as that profile, with its key and its
one algorithm, and with its claims checked (T10, T11)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import OctKey

from app.clock import epoch, utcnow
from app.jwtprofile import LEEWAY, InvalidJWT, JWTProfile, unverified_header

SK = JWTProfile("sk+jwt", "HS512", "SECRET_KEY_JWT_KEY", claims=("sub", "jti"))
AK = JWTProfile("ak+jwt", "HS256", "ACCESS_KEY_JWT_KEY", claims=("sub",))
CLAIMS = {"sub": "user-1", "jti": "token-1"}


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _signed(header: dict[str, str], claims: dict[str, object], key: str) -> str:
    return jwt.encode(header, claims, OctKey.import_key(key.encode()), algorithms=[header["alg"]])


def _claims(app: Flask, **overrides: object) -> dict[str, object]:
    now = utcnow()
    base: dict[str, object] = {
        "iss": app.config["APP_URL"],
        "iat": epoch(now),
        "exp": epoch(now + timedelta(minutes=5)),
        **CLAIMS,
    }
    base.update(overrides)
    return base


def test_a_token_round_trips(app: Flask) -> None:
    with app.app_context():
        now = utcnow()
        token = SK.encode(CLAIMS, now=now, expires_at=now + timedelta(hours=1))
        claims = SK.decode(token, now=now)
        assert claims["sub"] == "user-1" and claims["iss"] == app.config["APP_URL"]
        assert claims["exp"] - claims["iat"] == 3600
        header = unverified_header(token)
        assert header == {"alg": "HS512", "typ": "sk+jwt", "kid": SK.kid()}
        assert SK.looks_like(token) and not AK.looks_like(token)


def test_another_profiles_token_is_refused(app: Flask) -> None:
    with app.app_context():
        now = utcnow()
        token = AK.encode({"sub": "key-1"}, now=now, expires_at=now + timedelta(hours=1))
        with pytest.raises(InvalidJWT):
            SK.decode(token, now=now)


def test_alg_none_is_refused(app: Flask) -> None:
    with app.app_context():
        header = {"alg": "none", "typ": "sk+jwt", "kid": SK.kid()}
        token = f"{_b64(header)}.{_b64(_claims(app))}."
        with pytest.raises(InvalidJWT):
            SK.decode(token, now=utcnow())


def test_a_weaker_algorithm_with_the_right_key_is_refused(app: Flask) -> None:
    with app.app_context():
        header = {"alg": "HS256", "typ": "sk+jwt", "kid": SK.kid()}
        token = _signed(header, _claims(app), app.config["SECRET_KEY_JWT_KEY"])
        with pytest.raises(InvalidJWT):
            SK.decode(token, now=utcnow())


def test_another_key_is_refused_even_with_our_kid(app: Flask) -> None:
    with app.app_context():
        header = {"alg": "HS512", "typ": "sk+jwt", "kid": SK.kid()}
        token = _signed(header, _claims(app), "attacker-" + "x" * 64)
        with pytest.raises(InvalidJWT):
            SK.decode(token, now=utcnow())


def test_a_rotated_key_changes_the_kid_and_refuses_old_tokens(app: Flask) -> None:
    with app.app_context():
        now = utcnow()
        token = SK.encode(CLAIMS, now=now, expires_at=now + timedelta(hours=1))
        old_kid = SK.kid()
        app.config["SECRET_KEY_JWT_KEY"] = "rotated-" + "r" * 64
        assert SK.kid() != old_kid
        with pytest.raises(InvalidJWT):
            SK.decode(token, now=now)


def test_a_tampered_payload_is_refused(app: Flask) -> None:
    with app.app_context():
        now = utcnow()
        head, _, signature = SK.encode(CLAIMS, now=now, expires_at=now + timedelta(hours=1)).split(
            "."
        )
        forged = f"{head}.{_b64(_claims(app, sub='someone-else'))}.{signature}"
        with pytest.raises(InvalidJWT):
            SK.decode(forged, now=now)


def test_expiry_allows_the_leeway_and_no_more(app: Flask) -> None:
    with app.app_context():
        now = utcnow()
        token = SK.encode(CLAIMS, now=now, expires_at=now + timedelta(minutes=1))
        assert SK.decode(token, now=now + timedelta(minutes=1, seconds=LEEWAY - 1))
        with pytest.raises(InvalidJWT):
            SK.decode(token, now=now + timedelta(minutes=1, seconds=LEEWAY + 1))


@pytest.mark.parametrize(
    "change",
    [
        {"iss": "https://elsewhere.example"},
        {"sub": None},
        {"jti": None},
        {"exp": None},
        {"iat": None},
    ],
)
def test_a_wrong_or_missing_claim_is_refused(app: Flask, change: dict[str, object]) -> None:
    with app.app_context():
        claims = {k: v for k, v in {**_claims(app), **change}.items() if v is not None}
        header = {"alg": "HS512", "typ": "sk+jwt", "kid": SK.kid()}
        token = _signed(header, claims, app.config["SECRET_KEY_JWT_KEY"])
        with pytest.raises(InvalidJWT):
            SK.decode(token, now=utcnow())


@pytest.mark.parametrize(
    "value", ["", "abc", "a.b.c", "a.b", "....", "é.é.é", f"{_b64({'typ': 'sk+jwt'})}.e30."]
)
def test_garbage_is_refused_and_is_not_a_token(app: Flask, value: str) -> None:
    with app.app_context(), pytest.raises(InvalidJWT):
        SK.decode(value, now=utcnow())
