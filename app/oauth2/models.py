"""OAuth clients, authorization codes and tokens.

Only SHA-256 digests of client secrets, codes, access tokens and refresh tokens are stored.
The objects implement the small protocols Authlib's grants and endpoints call
(``ClientMixin``, ``AuthorizationCodeMixin``, ``TokenMixin``).

A *lineage* is everything descended from one authorization: the tokens issued for a code
(or a password / client-credentials grant) and every token rotated from them. Replaying a
rotated refresh token or a used code revokes the whole lineage at once.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin
from sqlalchemy import JSON, ColumnElement, ForeignKey, String, Text, and_, or_
from sqlalchemy.orm import Mapped, mapped_column

from app import crypto, scopes
from app.clock import epoch, utcnow
from app.config import current_region
from app.extensions import Model, db
from app.identity.models import User
from app.oauth2.redirects import redirect_uri_matches


class OAuthClient(Model, ClientMixin):
    __tablename__ = "oauth2_clients"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_digest: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    scope: Mapped[str] = mapped_column(String(255), default="read")
    # "client_secret_basic" (also accepts client_secret_post) for confidential clients,
    # "none" for public ones.
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    first_party: Mapped[bool] = mapped_column(default=False)
    # Registered through RFC 7591 rather than by an operator.
    dynamically_registered: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column()
    # A deleted client is a tombstone (also disabled, secret digest cleared) rather than a
    # removed row: its tokens, codes and audit events keep the foreign key they point at,
    # and its client_id can never be issued or authenticate again.
    deleted_at: Mapped[datetime | None] = mapped_column()
    # OpenID Connect: where RP-initiated logout may send the browser back to (exact match),
    # and the ID token's signature algorithm (None = OIDC_DEFAULT_SIGNING_ALG).
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(
        JSON, default=list, server_default="[]"
    )
    id_token_signed_response_alg: Mapped[str | None] = mapped_column(String(8))

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    # --- Authlib ClientMixin --------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # RFC 6749 §3.1.2.3: without a redirect_uri the only registered one is used; with
        # several registered, the request must name one.
        if len(self.redirect_uris) == 1:
            return self.redirect_uris[0]
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        return scopes.allowed_for_client(scope, self.scope)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return any(
            redirect_uri_matches(redirect_uri, uri, public=self.is_public)
            for uri in self.redirect_uris
        )

    def check_client_secret(self, client_secret: str) -> bool:
        return crypto.verify_digest(client_secret, self.client_secret_digest)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.is_public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


class AuthorizationCode(Model, AuthorizationCodeMixin):
    __tablename__ = "oauth2_authorization_codes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth2_clients.client_id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("families.id"), index=True)
    # The redirect_uri sent with the authorization request (None when it was omitted).
    redirect_uri: Mapped[str | None] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(String(255))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(10))
    # The resources (RFC 8707) the user authorized, space-separated; None: not restricted.
    resource: Mapped[str | None] = mapped_column(Text)
    # The lineage the tokens of this code will carry, fixed when the code is issued, so a
    # second redemption knows what to revoke.
    lineage_id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column()
    # OpenID Connect, for the ID tokens of this code and of the lineage's refreshes: the
    # request's nonce, when and how the user signed in on the browser (auth_time, amr).
    nonce: Mapped[str | None] = mapped_column(String(255), index=True)
    authenticated_at: Mapped[datetime | None] = mapped_column()
    amr: Mapped[list[str] | None] = mapped_column(JSON)

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


class OAuthToken(Model, TokenMixin):
    """One issuance: an access token and, usually, the refresh token issued with it."""

    __tablename__ = "oauth2_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    lineage_id: Mapped[uuid.UUID] = mapped_column(index=True)
    # The token whose refresh produced this one; several children of one parent are the
    # siblings a retry within the reuse interval issues (one may survive, see services).
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("oauth2_tokens.id"), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth2_clients.client_id"), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True)
    family_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("families.id"), index=True)
    grant_type: Mapped[str] = mapped_column(String(32))
    # The device a first-party (mobile) lineage belongs to: one live token per device.
    device_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("mobile_devices.id"), index=True)
    # Lifetime profile of the lineage: "oauth" (RFC grants) or "mobile" (Sure's 30 days).
    profile: Mapped[str] = mapped_column(String(16), default="oauth", server_default="oauth")
    # The region (config REGION) of the instance that issued it: valid only there.
    region: Mapped[str] = mapped_column(
        String(32), default=current_region, server_default="default"
    )
    # Scope of this access token (a refresh may narrow it).
    scope: Mapped[str] = mapped_column(String(255))
    # Scope of the authorization; the refresh token always keeps it.
    lineage_scope: Mapped[str] = mapped_column(String(255))
    # RFC 8707: the resources the authorization was for (the lineage keeps them) and the
    # audience of this access token (a refresh may narrow it); space-separated, None: this
    # whole server.
    resource: Mapped[str | None] = mapped_column(Text)
    audience: Mapped[str | None] = mapped_column(Text)
    access_token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    access_expires_at: Mapped[datetime] = mapped_column(index=True)
    refresh_expires_at: Mapped[datetime | None] = mapped_column()
    # The access token alone was revoked (RFC 7009 on an access token, or it was rotated).
    access_revoked_at: Mapped[datetime | None] = mapped_column()
    # The refresh token was exchanged for a successor (rotation); presenting it again is reuse.
    refresh_used_at: Mapped[datetime | None] = mapped_column()
    # One of this token's successors was refreshed (or, for a sibling, another sibling was):
    # from then on presenting this refresh token again is never a retry, always a replay.
    successor_used_at: Mapped[datetime | None] = mapped_column()
    # The whole issuance is dead: access and refresh token (lineage revocation).
    revoked_at: Mapped[datetime | None] = mapped_column(index=True)

    # --- state -----------------------------------------------------------------------------
    # Whether a token works, in the two forms the code needs: a method for a loaded row and a
    # classmethod for a WHERE clause. Each pair sits side by side so they cannot drift apart
    # (tests/oauth2/test_token_state.py holds them to the same answers). ``now`` may be a
    # bound parameter, for statements built once (the gate's verifier).

    def access_token_active(self, now: datetime) -> bool:
        """Not revoked (alone or with its lineage) and not expired."""
        return (
            self.revoked_at is None
            and self.access_revoked_at is None
            and self.access_expires_at > now
        )

    @classmethod
    def access_token_active_clause(
        cls, now: datetime | ColumnElement[datetime]
    ) -> ColumnElement[bool]:
        return and_(
            cls.revoked_at.is_(None),
            cls.access_revoked_at.is_(None),
            cls.access_expires_at > now,
        )

    def refresh_token_active(self, now: datetime) -> bool:
        """Issued, its lineage not revoked, not yet rotated and not expired."""
        return (
            self.refresh_token_digest is not None
            and self.revoked_at is None
            and self.refresh_used_at is None
            and (self.refresh_expires_at is None or self.refresh_expires_at > now)
        )

    @classmethod
    def refresh_token_active_clause(
        cls, now: datetime | ColumnElement[datetime]
    ) -> ColumnElement[bool]:
        return and_(
            cls.refresh_token_digest.is_not(None),
            cls.revoked_at.is_(None),
            cls.refresh_used_at.is_(None),
            or_(cls.refresh_expires_at.is_(None), cls.refresh_expires_at > now),
        )

    @classmethod
    def live_clause(cls, now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
        """Either token of the row still works: the row still stands for an authorization
        (authorized applications list it, the purge keeps it)."""
        return or_(cls.access_token_active_clause(now), cls.refresh_token_active_clause(now))

    # --- Authlib TokenMixin ------------------------------------------------------------------
    def check_client(self, client: OAuthClient) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        # What Authlib compares a refresh request's scope against: the lineage's scope.
        return self.lineage_scope

    def get_expires_in(self) -> int:
        return int((self.access_expires_at - self.issued_at).total_seconds())

    def get_expires_at(self) -> int:
        return epoch(self.access_expires_at)

    def is_expired(self) -> bool:
        return self.access_expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None or self.access_revoked_at is not None

    def get_user(self) -> User | None:
        return db.session.get(User, self.user_id) if self.user_id else None
