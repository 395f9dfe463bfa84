"""Signed JWTs that this server issues and checks, one ``JWTProfile`` per token type.

Each profile has its own ``typ``, its own server-only key (a config entry, generated into
instance/ outside production) and exactly one algorithm, so one type can never pass for
another: a secret-key JWT (``sk+jwt``, HS512) is not an access-key JWT (``ak+jwt``), and
``alg: none`` or an algorithm outside the profile is refused before any key is used. The
header is read unverified only to choose the profile (``looks_like``); verification uses
the profile's key and algorithm, never the header's. joserfc checks signatures only, so the
claims (``exp``, ``iat``, ``iss``, ``typ``) are validated explicitly here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from flask import current_app
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from joserfc.jwt import ClaimsOption

from app.clock import epoch

# Clock skew tolerated on exp / iat / nbf, in seconds (at most a minute).
LEEWAY = 60


class InvalidJWT(Exception):
    """Not a valid token of this profile: malformed, wrong type or algorithm, bad signature,
    expired, or a claim missing. The reason is for the log, never for the client."""


def unverified_header(value: str) -> dict[str, Any] | None:
    """The JOSE header of a compact JWS, or None if ``value`` is not one. Unverified: use it
    only to choose a profile."""
    if value.count(".") != 2:
        return None
    header = _parsed_header(value.partition(".")[0])
    return dict(header) if header is not None else None


@lru_cache(maxsize=1024)
def _parsed_header(segment: str) -> tuple[tuple[str, Any], ...] | None:
    """A header segment, parsed once: every verifier asks ``looks_like`` of the same token,
    and the one that accepts it parses it again to decode. Only hashable headers are kept."""
    try:
        header = jws.extract_compact(f"{segment}..".encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError):
        return None
    if not isinstance(header, dict):
        return None
    try:
        items = tuple(sorted(header.items()))
        hash(items)
    except TypeError:
        return None
    return items


@lru_cache(maxsize=16)
def _oct_key(secret: str) -> OctKey:
    return OctKey.import_key(secret.encode())


@lru_cache(maxsize=16)
def _kid(typ: str, secret: str) -> str:
    return hashlib.sha256(f"{typ}:{secret}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class JWTProfile:
    typ: str  # the JOSE "typ" header, e.g. "sk+jwt"
    algorithm: str  # the only algorithm accepted, e.g. "HS512"
    key_setting: str  # the config entry holding the server-only key
    claims: tuple[str, ...] = ()  # claims every token of the profile must carry

    def _key(self) -> OctKey:
        return _oct_key(current_app.config[self.key_setting])

    def kid(self) -> str:
        """Names the key (not the secret): changes when the key is rotated."""
        return _kid(self.typ, current_app.config[self.key_setting])

    def issuer(self) -> str:
        return current_app.config["APP_URL"] or "tollgate"

    def looks_like(self, value: str) -> bool:
        """Whether ``value`` claims to be a token of this profile (unverified)."""
        header = unverified_header(value)
        return header is not None and header.get("typ") == self.typ

    def encode(self, claims: dict[str, Any], *, now: datetime, expires_at: datetime) -> str:
        header = {"alg": self.algorithm, "typ": self.typ, "kid": self.kid()}
        payload = {"iss": self.issuer(), "iat": epoch(now), "exp": epoch(expires_at), **claims}
        return jwt.encode(header, payload, self._key(), algorithms=[self.algorithm])

    def decode(self, value: str, *, now: datetime) -> dict[str, Any]:
        """The verified claims, or InvalidJWT."""
        header = unverified_header(value)
        if header is None:
            raise InvalidJWT("not a compact JWS")
        if header.get("typ") != self.typ or header.get("alg") != self.algorithm:
            raise InvalidJWT(f"typ/alg {header.get('typ')}/{header.get('alg')} not {self.typ}")
        if header.get("kid") != self.kid():
            raise InvalidJWT("signed with another key")
        try:
            token = jwt.decode(value, self._key(), algorithms=[self.algorithm])
            options: dict[str, ClaimsOption] = {
                "iss": {"essential": True, "value": self.issuer()},
                "exp": {"essential": True},
                "iat": {"essential": True},
            }
            options.update({name: {"essential": True} for name in self.claims})
            registry = jwt.JWTClaimsRegistry(now=epoch(now), leeway=LEEWAY, **options)
            registry.validate(token.claims)
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidJWT(str(exc)) from None
        return dict(token.claims)
