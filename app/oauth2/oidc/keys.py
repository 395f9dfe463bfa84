"""ID token signing keys: one active key per algorithm (RS256, ES256), generated the first
time one is needed, rotated by ``flask keys rotate``.

Rotation makes a new key the signer at once; the old key's private half is destroyed and its
public half stays in the JWKS until every ID token it signed has expired (its retirement plus
the ID token lifetime, fixed at rotation). Verifiers that cached the JWKS keep working.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from app import crypto
from app.audit.services import SYSTEM, Caller, record
from app.clock import utcnow
from app.errors import Conflict
from app.extensions import db
from app.oauth2.oidc.models import SigningKey

ALGORITHMS = ("RS256", "ES256")
RSA_BITS = 2048

AnyKey = RSAKey | ECKey


class RotationConflict(Conflict):
    error = "rotation_conflict"


@dataclass(frozen=True)
class Signer:
    kid: str
    alg: str
    key: AnyKey


def _generate(alg: str) -> AnyKey:
    if alg == "RS256":
        return RSAKey.generate_key(RSA_BITS, private=True)
    return ECKey.generate_key("P-256", private=True)


def _new_row(alg: str, generation: int, now: datetime) -> SigningKey:
    key = _generate(alg)
    kid = key.thumbprint()
    public = {**key.as_dict(private=False), "kid": kid, "alg": alg, "use": "sig"}
    private = json.dumps(key.as_dict(private=True))
    return SigningKey(
        kid=kid,
        alg=alg,
        generation=generation,
        public_jwk=public,
        private_jwk_encrypted=crypto.encrypt(private),
        created_at=now,
    )


def _active(alg: str) -> SigningKey | None:
    row: SigningKey | None = db.session.scalar(
        select(SigningKey)
        .where(SigningKey.alg == alg, SigningKey.retired_at.is_(None))
        .order_by(SigningKey.generation.desc())
        .limit(1)
    )
    return row


def ensure_keys(*, now: datetime) -> None:
    """Generate the first key of every algorithm that has none (the first start). A
    concurrent starter that wins the race is fine: its key is used."""
    for alg in ALGORITHMS:
        if _active(alg) is not None:
            continue
        has_any = db.session.scalar(select(func.count()).where(SigningKey.alg == alg))
        if has_any:
            continue  # every key retired and none active: only rotation makes one
        db.session.add(_new_row(alg, 1, now))
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()


def generate_at_start(app: Flask) -> None:
    """The first start of a migrated database generates the keys (a concurrent starter that
    wins the race is fine); later starts find them."""
    with app.app_context():
        ensure_keys(now=utcnow())


def signer(alg: str, *, now: datetime) -> Signer:
    """The active signing key of ``alg``."""
    if alg not in ALGORITHMS:
        raise ValueError(f"unsupported ID token algorithm {alg!r}")
    row = _active(alg)
    if row is None:
        ensure_keys(now=now)
        row = _active(alg)
    if row is None or row.private_jwk_encrypted is None:
        raise RuntimeError(f"no active {alg} signing key")
    data = json.loads(crypto.decrypt(row.private_jwk_encrypted))
    key: AnyKey = RSAKey.import_key(data) if alg == "RS256" else ECKey.import_key(data)
    return Signer(kid=row.kid, alg=alg, key=key)


def published(*, now: datetime) -> list[SigningKey]:
    """Every key a verifier may meet: the active ones and the retired ones whose ID tokens
    may still be alive."""
    ensure_keys(now=now)
    rows = db.session.scalars(
        select(SigningKey)
        .where(or_(SigningKey.retired_at.is_(None), SigningKey.published_until > now))
        .order_by(SigningKey.alg, SigningKey.generation.desc())
    ).all()
    return list(rows)


def jwks(*, now: datetime) -> dict[str, Any]:
    """The JWK Set document (RFC 7517 §5): public halves only."""
    return {"keys": [dict(row.public_jwk) for row in published(now=now)]}


def verification_keys(*, now: datetime) -> KeySet:
    return KeySet.import_key_set(jwks(now=now))  # type: ignore[arg-type]


def rotate(*, now: datetime, caller: Caller = SYSTEM) -> list[SigningKey]:
    """A new signer for every algorithm; the previous one retires (private half destroyed)
    and stays published for the ID token lifetime. One transaction, audited. Returns the new
    keys."""
    ensure_keys(now=now)
    lifetime = timedelta(seconds=int(current_app.config["OIDC_ID_TOKEN_LIFETIME"]))
    created = []
    retired = []
    for alg in ALGORITHMS:
        latest = db.session.scalar(
            select(func.max(SigningKey.generation)).where(SigningKey.alg == alg)
        )
        for old in db.session.scalars(
            select(SigningKey).where(SigningKey.alg == alg, SigningKey.retired_at.is_(None))
        ):
            old.retired_at = now
            old.published_until = now + lifetime
            old.private_jwk_encrypted = None
            retired.append(old.kid)
        row = _new_row(alg, (latest or 0) + 1, now)
        db.session.add(row)
        created.append(row)
    record(
        "oidc.signing_keys.rotated",
        now=now,
        caller=caller,
        new_kids=[row.kid for row in created],
        retired_kids=retired,
        published_until=(now + lifetime).isoformat(),
    )
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise RotationConflict("Another rotation ran at the same time; try again.") from exc
    return created


def describe(row: SigningKey, *, now: datetime) -> dict[str, Any]:
    if row.retired_at is None:
        state = "active"
    elif row.published_until is not None and row.published_until > now:
        state = "retired (published)"
    else:
        state = "expired"
    return {
        "kid": row.kid,
        "alg": row.alg,
        "state": state,
        "created_at": row.created_at,
        "retired_at": row.retired_at,
        "published_until": row.published_until,
    }


def all_keys() -> list[SigningKey]:
    rows = db.session.scalars(
        select(SigningKey).order_by(SigningKey.alg, SigningKey.generation.desc())
    ).all()
    return list(rows)
