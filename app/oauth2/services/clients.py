"""OAuth clients: registration (operators and RFC 7591), lookup, and the operator lifecycle
(list, disable, enable, delete)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from app import crypto, scopes
from app.apikeys import services as apikeys
from app.audit.services import SYSTEM, Caller, record
from app.errors import Forbidden, TollgateError
from app.extensions import db, execute_count
from app.oauth2.models import AuthorizationCode, OAuthClient, OAuthToken
from app.oauth2.redirects import InvalidRedirectURI, validate_redirect_uri

GRANT_TYPES = ("authorization_code", "refresh_token", "password", "client_credentials")
# The built-in first-party public client: Sure's mobile device tokens and RedCloud's session
# tokens belong to it (the account holder's own apps). Defined here because the client
# lifecycle refuses to delete it; firstparty/tokens.py and sessions/tokens.py issue for it.
SURE_MOBILE_CLIENT_ID = "sure-mobile"
SURE_MOBILE_REDIRECT_URI = "sureapp://oauth/callback"
# The ID token signature algorithms a client may choose (OpenID Connect Registration §2).
ID_TOKEN_ALGORITHMS = ("RS256", "ES256")


class InvalidClientMetadata(TollgateError):
    status, error = 400, "invalid_client_metadata"


class InvalidRedirectURIMetadata(InvalidClientMetadata):
    """RFC 7591 §3.2.2: one or more of the redirect URIs is not acceptable."""

    error = "invalid_redirect_uri"


# --- registration and lookup -------------------------------------------------------------------


@dataclass(frozen=True)
class NewClient:
    client: OAuthClient
    client_secret: str | None  # plaintext, returned once; None for public clients


def create_client(
    *,
    name: str,
    redirect_uris: list[str],
    grant_types: list[str],
    scope: str,
    public: bool,
    first_party: bool = False,
    dynamic: bool = False,
    post_logout_redirect_uris: list[str] | None = None,
    id_token_signed_response_alg: str | None = None,
    now: datetime,
    caller: Caller = SYSTEM,
) -> NewClient:
    """Register a client; the secret (confidential clients) is returned once, stored as a
    digest. Raises InvalidClientMetadata with a client-facing description. Commits."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidClientMetadata("client name must be 1 to 200 characters")
    grant_types = list(dict.fromkeys(grant_types))
    unknown = [g for g in grant_types if g not in GRANT_TYPES]
    if unknown or not grant_types:
        raise InvalidClientMetadata(f"unsupported grant types: {', '.join(unknown) or 'none'}")
    if public and "client_credentials" in grant_types:
        raise InvalidClientMetadata("public clients cannot use client_credentials")
    if "password" in grant_types and not first_party:
        raise InvalidClientMetadata("the password grant is only for first-party clients")
    try:
        uris = [validate_redirect_uri(uri, dynamic=dynamic) for uri in redirect_uris]
    except InvalidRedirectURI as exc:
        raise InvalidRedirectURIMetadata(str(exc)) from exc
    if "authorization_code" in grant_types and not uris:
        raise InvalidClientMetadata("redirect_uris is required for authorization_code")
    requested_scope = scopes.to_list(scope)
    if not requested_scope or not set(requested_scope) <= set(scopes.supported()):
        raise InvalidClientMetadata(f"scope must be a subset of: {' '.join(scopes.supported())}")
    if id_token_signed_response_alg not in (None, *ID_TOKEN_ALGORITHMS):
        raise InvalidClientMetadata(
            f"id_token_signed_response_alg must be one of: {', '.join(ID_TOKEN_ALGORITHMS)}"
        )
    try:
        logout_uris = [
            validate_redirect_uri(uri, dynamic=dynamic) for uri in post_logout_redirect_uris or []
        ]
    except InvalidRedirectURI as exc:
        raise InvalidClientMetadata(f"post_logout_redirect_uris: {exc}") from exc

    secret = None if public else crypto.new_token(crypto.PREFIX_CLIENT_SECRET)
    client = OAuthClient(
        client_id=crypto.new_identifier(),
        client_secret_digest=crypto.digest(secret) if secret else None,
        name=name,
        redirect_uris=uris,
        grant_types=grant_types,
        scope=scopes.to_string(requested_scope),
        token_endpoint_auth_method="none" if public else "client_secret_basic",
        first_party=first_party,
        dynamically_registered=dynamic,
        post_logout_redirect_uris=logout_uris,
        id_token_signed_response_alg=id_token_signed_response_alg,
        created_at=now,
    )
    db.session.add(client)
    record(
        "client.created",
        now=now,
        caller=caller,
        client_id=client.client_id,
        dynamic=dynamic,
        public=public,
    )
    db.session.commit()
    return NewClient(client=client, client_secret=secret)


def get_client(client_id: str | None) -> OAuthClient | None:
    """The usable client with this client_id: None for an unknown, malformed or disabled one
    (a deleted client is disabled too)."""
    if not client_id or len(client_id) > 64 or "\x00" in client_id:
        return None
    client: OAuthClient | None = db.session.scalar(_CLIENT_BY_ID, {"client_id": client_id})
    if client is None or client.disabled_at is not None:
        return None
    return client


# Built once (every token, introspection and revocation request looks its client up).
_CLIENT_BY_ID = select(OAuthClient).where(OAuthClient.client_id == bindparam("client_id"))


# --- the built-in first-party client ------------------------------------------------------------


class FirstPartyClientDisabled(Forbidden):
    description = "This app has been disabled"


def first_party_client(*, now: datetime) -> OAuthClient:
    """The shared public client "Sure Mobile" that device and session tokens belong to,
    created on first use (a fixed client_id makes concurrent creation converge on one row).
    An operator may disable it: then no such token is issued (FirstPartyClientDisabled, a
    403)."""
    client = _existing_first_party_client()
    if client is not None:
        return client
    client = OAuthClient(
        client_id=SURE_MOBILE_CLIENT_ID,
        client_secret_digest=None,
        name="Sure Mobile",
        redirect_uris=[SURE_MOBILE_REDIRECT_URI],
        grant_types=["authorization_code", "refresh_token"],
        scope="read_write",
        token_endpoint_auth_method="none",
        first_party=True,
        created_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(client)
    except IntegrityError:
        client = _existing_first_party_client()
        assert client is not None
    return client


def _existing_first_party_client() -> OAuthClient | None:
    client = db.session.scalar(
        select(OAuthClient).where(OAuthClient.client_id == SURE_MOBILE_CLIENT_ID)
    )
    if client is not None and client.disabled_at is not None:
        raise FirstPartyClientDisabled()
    return client


# --- client lifecycle (operator commands) ------------------------------------------------------


class UnknownClient(TollgateError):
    status, error = 404, "not_found"


class ClientLifecycleError(TollgateError):
    status, error = 409, "conflict"


@dataclass(frozen=True)
class DeletedClient:
    client: OAuthClient
    revoked_tokens: int
    revoked_codes: int
    revoked_api_keys: int


def list_clients() -> list[OAuthClient]:
    """Every client that was not deleted, oldest first (disabled ones included)."""
    return list(
        db.session.scalars(
            select(OAuthClient)
            .where(OAuthClient.deleted_at.is_(None))
            .order_by(OAuthClient.created_at, OAuthClient.client_id)
        )
    )


def _managed_client(client_id: str) -> OAuthClient:
    """The client an operator names, disabled or not; a tombstone cannot be managed."""
    client: OAuthClient | None = db.session.scalar(
        select(OAuthClient).where(OAuthClient.client_id == client_id)
    )
    if client is None:
        raise UnknownClient(f"no client with client_id {client_id}")
    if client.deleted_at is not None:
        raise ClientLifecycleError(f"client {client_id} was deleted")
    return client


def disable_client(client_id: str, *, now: datetime, caller: Caller = SYSTEM) -> OAuthClient:
    """Stop a client at once: it no longer authenticates or starts authorizations, and its
    tokens stop working. Nothing is revoked (every use checks the client), so enabling it
    again restores the tokens that have not expired meanwhile. Idempotent. Commits."""
    client = _managed_client(client_id)
    if client.disabled_at is None:
        client.disabled_at = now
        record("client.disabled", now=now, caller=caller, client_id=client_id)
    db.session.commit()
    return client


def enable_client(client_id: str, *, now: datetime, caller: Caller = SYSTEM) -> OAuthClient:
    """Undo ``disable_client``. Idempotent. Commits."""
    client = _managed_client(client_id)
    if client.disabled_at is not None:
        client.disabled_at = None
        record("client.enabled", now=now, caller=caller, client_id=client_id)
    db.session.commit()
    return client


def delete_client(client_id: str, *, now: datetime, caller: Caller = SYSTEM) -> DeletedClient:
    """Revoke every token and unredeemed code of the client and leave a tombstone: disabled,
    its secret digest cleared, its client_id never usable again. The row stays because
    tokens, codes and audit events point at it (audit history is append-only). API keys the
    client created for its users die with it; nothing of any other client, user or family,
    and no other API key, is touched. Commits."""
    if client_id == SURE_MOBILE_CLIENT_ID:
        # Sure's login and signup issue device tokens to this client: deleting it would
        # break them for good. Disabling is the reversible kill switch.
        raise ClientLifecycleError(
            f"{client_id} is the built-in first-party client; disable it instead"
        )
    client = _managed_client(client_id)
    revoked_tokens = execute_count(
        update(OAuthToken)
        .where(OAuthToken.client_id == client_id, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    # Codes are marked used, never deleted early (a later redemption is then reuse).
    revoked_codes = execute_count(
        update(AuthorizationCode)
        .where(AuthorizationCode.client_id == client_id, AuthorizationCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    revoked_api_keys = len(apikeys.revoke_created_by_client(None, client_id, now=now))
    client.deleted_at = now
    client.disabled_at = client.disabled_at or now
    client.client_secret_digest = None
    record(
        "client.deleted",
        now=now,
        caller=caller,
        client_id=client_id,
        revoked_tokens=revoked_tokens,
        revoked_codes=revoked_codes,
        revoked_api_keys=revoked_api_keys,
    )
    db.session.commit()
    return DeletedClient(client, revoked_tokens, revoked_codes, revoked_api_keys)
