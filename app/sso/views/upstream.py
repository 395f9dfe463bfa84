"""The identity an external provider's callback asserts: the state checked, the code redeemed,
the ID token validated (signature by the provider's JWKS, iss, aud, exp, nonce; Authlib), and
the profile read from it (or, for the same subject only, from userinfo).
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
from flask import current_app, request
from joserfc.errors import JoseError

from app.identity import users
from app.sso.services import providers
from app.sso.services.identities import UpstreamIdentity
from app.sso.services.providers import Provider

log = logging.getLogger(__name__)


def validated_identity(provider: Provider) -> UpstreamIdentity | str:
    """The identity of a fully validated ID token, or the raw reason of the failure."""
    error = request.values.get("error")
    if error:
        # The provider's own words go to the log only.
        log.info("sso %s: provider answered error=%r", provider.key, error[:100])
        return "provider_unavailable" if error == "temporarily_unavailable" else error
    client = providers.oauth_client(provider)
    try:
        token = client.authorize_access_token(
            claims_options={
                "iss": {"essential": True, "values": [provider.issuer]},
                "sub": {"essential": True},
            },
            leeway=current_app.config["SSO_ID_TOKEN_LEEWAY"],
        )
    except MismatchingStateError:
        return "csrf_detected"
    except OAuthError as exc:  # the token endpoint refused the code
        log.info("sso %s: token request failed: %s", provider.key, exc.error)
        return "invalid_credentials"
    except requests.RequestException as exc:
        log.warning("sso %s: provider unreachable: %s", provider.key, exc)
        return "provider_unavailable"
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        log.info("sso %s: ID token refused: %s", provider.key, exc)
        return "invalid_id_token"
    claims = token.get("userinfo")
    if not claims or not claims.get("sub"):
        return "missing_id_token"  # no ID token, so nothing was validated
    if not isinstance(claims["sub"], str) or len(claims["sub"]) > 255:
        return "invalid_response"  # OIDC Core 2: at most 255 ASCII characters
    claims = dict(claims)
    if "email" not in claims and client.load_server_metadata().get("userinfo_endpoint"):
        # Some providers put the profile in userinfo only (OIDC Core 5.4). Its answer counts
        # only for the ID token's subject (5.3.2); the ID token's own claims win.
        try:
            extra = client.userinfo(token=token)
        except (requests.RequestException, OAuthError, ValueError) as exc:
            log.warning("sso %s: userinfo failed: %s", provider.key, exc)
            return "provider_unavailable"
        if extra.get("sub") != claims["sub"]:
            return "invalid_response"
        claims = {**extra, **claims}
    return UpstreamIdentity(
        provider=provider.key,
        issuer=provider.issuer,
        subject=str(claims["sub"]),
        email=_email(claims.get("email")),
        email_verified=claims.get("email_verified") is True,
        first_name=_claim(claims, "given_name"),
        last_name=_claim(claims, "family_name"),
    )


def _email(value: object) -> str | None:
    """The address as stored (normalised), or None when it is not one we could store."""
    if not isinstance(value, str):
        return None
    email = users.normalize_email(value)
    return email if users.EMAIL_RE.match(email) and len(email) <= 254 else None


def _claim(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value.strip()[:100] or None if isinstance(value, str) else None
