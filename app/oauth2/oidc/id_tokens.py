"""ID tokens (OpenID Connect Core §2, §3.1.3.6): signed with the provider's asymmetric key of
the client's chosen algorithm; ``at_hash`` binds the access token issued with them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from authlib.oidc.core.util import create_half_hash
from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError

from app.clock import epoch
from app.identity.models import User
from app.oauth2.models import OAuthClient
from app.oauth2.oidc import claims, keys


def algorithm_for(client: OAuthClient) -> str:
    alg = client.id_token_signed_response_alg or current_app.config["OIDC_DEFAULT_SIGNING_ALG"]
    return str(alg)


def issue(
    *,
    issuer: str,
    client: OAuthClient,
    user: User,
    scope: str,
    access_token: str | None,
    nonce: str | None,
    auth_time: datetime | None,
    amr: Sequence[str] | None,
    now: datetime,
) -> str:
    """A signed ID token for ``user`` and ``client``. ``auth_time`` and ``amr`` are those of
    the browser sign-in behind the authorization (kept across refreshes)."""
    alg = algorithm_for(client)
    signer = keys.signer(alg, now=now)
    iat = epoch(now)
    payload: dict[str, Any] = {
        **claims.user_claims(user, scope),
        "iss": issuer,
        "sub": claims.subject(user),
        "aud": client.client_id,
        "iat": iat,
        "exp": iat + int(current_app.config["OIDC_ID_TOKEN_LIFETIME"]),
    }
    if auth_time is not None:
        payload["auth_time"] = epoch(auth_time)
    if nonce:
        payload["nonce"] = nonce
    if amr:
        payload["amr"] = list(amr)
    if access_token:
        half = create_half_hash(access_token, alg)
        if half is not None:
            payload["at_hash"] = half.decode("ascii")
    header = {"alg": alg, "kid": signer.kid, "typ": "JWT"}
    return jwt.encode(header, payload, signer.key, algorithms=[alg])


class InvalidIdTokenHint(ValueError):
    """The ``id_token_hint`` was not an ID token this provider signed."""


def read_hint(token: str, *, issuer: str, now: datetime) -> dict[str, Any]:
    """The claims of an ID token this provider issued, expired or not (OpenID Connect
    RP-Initiated Logout §2: a hint may have expired). Raises InvalidIdTokenHint."""
    try:
        decoded = jwt.decode(
            token, keys.verification_keys(now=now), algorithms=list(keys.ALGORITHMS)
        )
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidIdTokenHint("id_token_hint is not a valid ID token") from exc
    payload = dict(decoded.claims)
    if payload.get("iss") != issuer or not isinstance(payload.get("sub"), str):
        raise InvalidIdTokenHint("id_token_hint was not issued here")
    return payload
