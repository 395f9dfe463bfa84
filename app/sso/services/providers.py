"""OpenID Connect providers: from instance config (SSO_PROVIDERS) and from the database (CLI),
and the Authlib Flask client of each, registered lazily on first use.

A provider is discovered from its issuer (``<issuer>/.well-known/openid-configuration``);
every authorization request carries PKCE (S256) and a nonce; the ID token is checked by
Authlib's ``parse_id_token`` (signature against the provider's JWKS, iss, aud, exp, nonce).
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app
from sqlalchemy import select

from app import crypto
from app.audit.services import SYSTEM, Caller, record
from app.extensions import db
from app.identity.models import ROLES
from app.sso.errors import InvalidProvider, ProviderNotFound
from app.sso.models import SsoProvider

JIT_MODES = ("create_and_link", "link_only")
KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
DOMAIN_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
DEFAULT_SCOPES = ("openid", "email", "profile")
# Paths under /auth/ that are routes of their own: no provider may be called so.
RESERVED_KEYS = frozenset(
    {"desktop", "failure", "link", "login", "logout", "me", "mobile", "refresh", "signup", "token"}
)
_OAUTH_EXTENSION = "tollgate.sso_oauth"
_LOCK = threading.RLock()
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Provider:
    key: str  # URL segment: /auth/<key>, /auth/mobile/<key>
    display_name: str
    issuer: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]  # always includes "openid"
    allowed_domains: tuple[str, ...]  # empty = any domain
    jit_mode: str  # "create_and_link" | "link_only"
    default_role: str  # "admin" | "super_admin" | "member" ...

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"

    def domain_allowed(self, email: str | None) -> bool:
        """Whether an address's domain may sign up through this provider (any, when the
        provider lists none)."""
        if not email or "@" not in email:
            return False
        if not self.allowed_domains:
            return True
        domain = email.rsplit("@", 1)[1].strip().lower()
        return domain in self.allowed_domains

    def public(self) -> dict[str, Any]:
        """What may be shown: everything but the client secret."""
        return {
            "key": self.key,
            "display_name": self.display_name,
            "issuer": self.issuer,
            "client_id": self.client_id,
            "scopes": list(self.scopes),
            "allowed_domains": list(self.allowed_domains),
            "jit_mode": self.jit_mode,
            "default_role": self.default_role,
        }


def build_provider(
    *,
    key: str,
    issuer: str,
    client_id: str,
    client_secret: str,
    display_name: str | None = None,
    scopes: Any = None,
    allowed_domains: Any = None,
    jit_mode: str = "create_and_link",
    default_role: str = "admin",
) -> Provider:
    """A validated Provider; raises InvalidProvider listing every problem."""
    errors: list[str] = []
    key = (key or "").strip().lower()
    # Kept exactly as given: an ID token's iss must equal it character for character, and
    # some issuers end in "/" (OpenID Connect Discovery 1.0 §4.3).
    issuer = (issuer or "").strip()
    if not KEY_RE.match(key):
        errors.append("Key must be 1-64 lowercase letters, digits, '-' or '_'")
    elif key in RESERVED_KEYS:
        errors.append(f"Key {key!r} is reserved")
    if not (issuer.startswith("https://") or _loopback_http(issuer)):
        errors.append("Issuer must be an https URL (http only on a loopback host)")
    if not (client_id or "").strip():
        errors.append("Client id is required")
    if not client_secret:
        errors.append("Client secret is required")
    scope_list = _words(scopes) or list(DEFAULT_SCOPES)
    if "openid" not in scope_list:
        scope_list.insert(0, "openid")
    domains = [d.lower().lstrip("@") for d in _words(allowed_domains)]
    bad = [d for d in domains if not DOMAIN_RE.match(d)]
    if bad:
        errors.append(f"Invalid allowed domain(s): {', '.join(bad)}")
    if jit_mode not in JIT_MODES:
        errors.append(f"JIT mode must be one of {', '.join(JIT_MODES)}")
    if default_role not in ROLES:
        errors.append(f"Default role must be one of {', '.join(ROLES)}")
    if errors:
        raise InvalidProvider("; ".join(errors), extra={"errors": errors})
    return Provider(
        key=key,
        display_name=(display_name or "").strip() or key.replace("_", " ").title(),
        issuer=issuer,
        client_id=client_id.strip(),
        client_secret=client_secret,
        scopes=tuple(dict.fromkeys(scope_list)),
        allowed_domains=tuple(dict.fromkeys(domains)),
        jit_mode=jit_mode,
        default_role=default_role,
    )


def _loopback_http(url: str) -> bool:
    return bool(re.match(r"^http://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?(/|$)", url))


def _words(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [w for w in re.split(r"[\s,]+", value) if w]
    return [str(w).strip() for w in value if str(w).strip()]


def _configured() -> list[Provider]:
    """SSO_PROVIDERS (instance config): a list of dicts with Provider's field names. A broken
    entry is logged (naming its key) and left out, so it cannot take the sign-in page down."""
    providers = []
    for entry in current_app.config.get("SSO_PROVIDERS") or []:
        try:
            providers.append(build_provider(**entry))
        except (InvalidProvider, TypeError) as exc:
            key = entry.get("key") if isinstance(entry, dict) else None
            log.error("SSO_PROVIDERS entry %r is ignored: %s", key, exc)
    return providers


def _from_row(row: SsoProvider) -> Provider | None:
    """The stored provider; None (logged) when its secret no longer decrypts (ENCRYPTION_KEYS
    lost the key it was encrypted with): it cannot work, and must not take pages down."""
    try:
        client_secret = crypto.decrypt(row.client_secret_encrypted)
    except ValueError:
        log.error("SSO provider %r is ignored: its client secret cannot be decrypted", row.key)
        return None
    return Provider(
        key=row.key,
        display_name=row.display_name,
        issuer=row.issuer,
        client_id=row.client_id,
        client_secret=client_secret,
        scopes=tuple(row.scopes or DEFAULT_SCOPES),
        allowed_domains=tuple(row.allowed_domains or ()),
        jit_mode=row.jit_mode,
        default_role=row.default_role,
    )


def list_providers() -> list[Provider]:
    """Instance-configured providers first, then those added with the CLI (by key)."""
    configured = _configured()
    keys = {p.key for p in configured}
    stored = db.session.scalars(select(SsoProvider).order_by(SsoProvider.key)).all()
    found = [_from_row(row) for row in stored if row.key not in keys]
    return configured + [provider for provider in found if provider is not None]


def get_provider(key: str) -> Provider | None:
    key = (key or "").strip().lower()
    for provider in _configured():
        if provider.key == key:
            return provider
    row = db.session.scalar(select(SsoProvider).where(SsoProvider.key == key))
    return _from_row(row) if row else None


def require_provider(key: str) -> Provider:
    provider = get_provider(key)
    if provider is None:
        raise ProviderNotFound()
    return provider


def add_provider(*, now: datetime, caller: Caller = SYSTEM, **fields: Any) -> Provider:
    """Store a provider (the client secret encrypted). Commits."""
    provider = build_provider(**fields)
    configured = {p.key for p in _configured()}
    if provider.key in configured or db.session.scalar(
        select(SsoProvider.id).where(SsoProvider.key == provider.key)
    ):
        raise InvalidProvider(f"A provider with key {provider.key!r} exists already")
    db.session.add(
        SsoProvider(
            key=provider.key,
            display_name=provider.display_name,
            issuer=provider.issuer,
            client_id=provider.client_id,
            client_secret_encrypted=crypto.encrypt(provider.client_secret),
            scopes=list(provider.scopes),
            allowed_domains=list(provider.allowed_domains),
            jit_mode=provider.jit_mode,
            default_role=provider.default_role,
            created_at=now,
        )
    )
    record(
        "sso.provider_added", now=now, caller=caller, provider=provider.key, issuer=provider.issuer
    )
    db.session.commit()
    return provider


def remove_provider(key: str, *, now: datetime, caller: Caller = SYSTEM) -> None:
    """Delete a CLI-added provider (linked identities stay, and work again if it comes back).
    Commits."""
    row = db.session.scalar(select(SsoProvider).where(SsoProvider.key == (key or "").lower()))
    if row is None:
        if any(p.key == key for p in _configured()):
            raise InvalidProvider("This provider comes from instance config (SSO_PROVIDERS)")
        raise ProviderNotFound()
    db.session.delete(row)
    record("sso.provider_removed", now=now, caller=caller, provider=row.key)
    db.session.commit()


# --- Authlib clients ------------------------------------------------------------------------------


def _registry(app: Flask) -> tuple[OAuth, dict[str, Provider]]:
    """The app's Authlib registry and the provider each client was registered with."""
    with _LOCK:
        state: tuple[OAuth, dict[str, Provider]] | None = app.extensions.get(_OAUTH_EXTENSION)
        if state is None:
            state = app.extensions[_OAUTH_EXTENSION] = (OAuth(app), {})
        return state


def oauth_client(provider: Provider) -> Any:
    """The Authlib Flask client of ``provider``, registered on first use (and again when an
    operator changed the provider: a removed and re-added key gets a fresh client)."""
    oauth, registered = _registry(current_app)
    with _LOCK:
        if registered.get(provider.key) == provider:
            return oauth.create_client(provider.key)
        oauth._clients.pop(provider.key, None)  # a changed provider: no stale client or metadata
        oauth.register(
            name=provider.key,
            client_id=provider.client_id,
            client_secret=provider.client_secret,
            server_metadata_url=provider.discovery_url,
            client_kwargs={
                "scope": " ".join(provider.scopes),
                "code_challenge_method": "S256",
                "default_timeout": current_app.config["SSO_HTTP_TIMEOUT"],
            },
        )
        registered[provider.key] = provider
    return oauth.create_client(provider.key)
