"""``require``: the one decorator protected views declare their needs with.

Order per request (Sure's base controller and RedCloud's pipeline, made stricter):
1. resolve the caller: ``X-Master-Key`` (break-glass) first, then ``Authorization: Bearer``,
   then ``X-Api-Key`` (any casing), then the browser session. The first credential present
   decides, never a fall-through: an Authorization header that is present but invalid is a
   401 even if a valid API key is also sent. A credential of another region is a 401;
2. the credential's rate limit (counted before the tenant and scope checks, as Sure counts
   before its scope checks; an API key's budget is spent in the same round trip that reads
   the client IP's failure budget);
3. the tenant: the principal's own; ``X-Tenant-ID`` may only name it, except for callers
   holding both admin.users and admin.settings with the platform flag (403 TENANT_FORBIDDEN
   otherwise, audited); the resolved tenant is echoed in every response's ``X-Tenant-ID``;
4. the scope, then the permissions the view declared (all of them), the tenant's licensed
   feature (403 FEATURE_DISABLED), and in production TOTP for MFA-gated permissions
   (403 MFA_REQUIRED, the live flag);
5. the view, with the principal in ``g``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import current_app, g, request
from flask_login import current_user

from app import metrics
from app.audit.services import record
from app.clock import utcnow
from app.config import current_region
from app.errors import BadRequest, Forbidden, Unauthorized
from app.extensions import csrf, db
from app.extensions import reads_only as declare_reads_only
from app.gate import limits, messages
from app.gate.bearer import bearer_challenge, bearer_credential
from app.gate.principal import Principal
from app.gate.registry import CredentialRejected, Slot, verifiers
from app.identity.models import User
from app.identity.roles import FEATURES, MFA_GATED
from app.identity.tenants import tenant_features, tenant_in_region
from app.requestctx import current_caller, request_base_url

F = TypeVar("F", bound=Callable[..., Any])
access_log = logging.getLogger("app.gate.access")

AUTH_FAILURES_PER_IP = limits.AUTH_FAILURES_PER_IP
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Who may name another tenant in X-Tenant-ID (RedCloud): holders of both, and only with the
# platform flag (a tenant admin's header may only name their own tenant).
TENANT_SWITCH_PERMISSIONS = frozenset({"admin.users", "admin.settings"})


class TenantForbidden(Forbidden):
    error = "tenant_forbidden"
    description = "You may not act in this tenant"


class MfaRequired(Forbidden):
    error = "mfa_required"
    description = "Enable two-factor authentication to perform this action"


class FeatureDisabled(Forbidden):
    error = "feature_disabled"
    description = "This feature is not included in your plan"


def current_principal() -> Principal:
    principal: Principal = g.principal
    return principal


def current_principal_user() -> User:
    """The user behind the principal of a ``require(user_required=True)`` view. Calling it
    from any other view is a programming error, not a client's."""
    user = current_principal().user
    if user is None:
        raise RuntimeError("current_principal_user() needs require(user_required=True)")
    return user


def _challenge(*params: str) -> str:
    """RFC 6750 §3 challenge; every one ends with ``resource_metadata`` (RFC 9728 §5.1, which
    MCP clients require to find the authorization server): the URL discovery serves, under
    the issuer (APP_URL, else this request's base URL)."""
    metadata = f'resource_metadata="{_base_url()}/.well-known/oauth-protected-resource"'
    return bearer_challenge(*params, metadata)


def _base_url() -> str:
    """This server's public base URL: APP_URL, else this request's."""
    base: str = current_app.config["APP_URL"] or request_base_url()
    return base


def _invalid(message: str) -> Unauthorized:
    return Unauthorized(message, headers={"WWW-Authenticate": _challenge('error="invalid_token"')})


def _verify(
    slot: Slot, value: str | None, failure_message: str, *, defer_ip_check: bool = False
) -> Principal:
    try:
        principal = _verify_slot(slot, value, failure_message, defer_ip_check)
    except Unauthorized:
        metrics.authentication(slot, "rejected")
        raise
    metrics.authentication(principal.credential_kind, "success")
    return principal


def _verify_slot(
    slot: Slot, value: str | None, failure_message: str, defer_ip_check: bool = False
) -> Principal:
    """The principal of the slot's credential. A client IP whose failure budget is spent gets
    429, even with a valid credential. Checked before verifying — except for an API key when
    the caller will spend the key's budget right away (``defer_ip_check``): then the key is
    verified first and the IP is read in the same round trip as the spend (limits.apply,
    ``g.gate_ip_check``); a failure spends the IP's budget (429 once it is gone) either way."""
    ip = request.remote_addr or "unknown"
    deferred = defer_ip_check and slot == "api_key"
    if not deferred:
        AUTH_FAILURES_PER_IP.check(ip)
    if value:
        for verifier in verifiers(slot):
            if verifier.accepts(value):
                try:
                    principal = verifier.verify(value)
                except CredentialRejected as rejected:
                    AUTH_FAILURES_PER_IP.fail(ip)
                    raise _invalid(rejected.message) from None
                if principal.region is not None and principal.region != current_region():
                    # Issued by (or for a user of) another region: it does not exist here.
                    AUTH_FAILURES_PER_IP.fail(ip)
                    raise _invalid(failure_message)
                if principal.audience is not None and not principal.audience_covers(
                    _base_url() + request.path
                ):
                    # Minted for another resource (RFC 8707; RFC 6750 §3.1 invalid_token).
                    AUTH_FAILURES_PER_IP.fail(ip)
                    raise _invalid(messages.WRONG_AUDIENCE)
                if deferred:
                    if limits.has_budget(principal):
                        g.gate_ip_check = ip
                    else:
                        AUTH_FAILURES_PER_IP.check(ip)
                return principal
    AUTH_FAILURES_PER_IP.fail(ip)
    raise _invalid(failure_message)


def _session_principal() -> Principal | None:
    if not current_user.is_authenticated:
        return None
    user = current_user._get_current_object()
    if user.region != current_region():  # signed in on an instance of another region
        raise Unauthorized(messages.CREDENTIAL_MISSING, headers={"WWW-Authenticate": _challenge()})
    if request.method not in SAFE_METHODS:
        csrf.protect()  # cookie-authenticated writes need the CSRF token
    return Principal(
        family_id=user.family_id,
        credential_kind="session",
        credential_id="session",
        scopes=frozenset({"read_write"}),
        user_id=user.id,
        role=user.role,
        loaded_user=user,
        first_party=True,
        region=user.region,
    )


def resolve(allowed: frozenset[str] | None, *, defer_ip_check: bool = False) -> Principal:
    """``allowed``: the credential kinds a view takes; None: every kind a verifier offers.
    ``defer_ip_check``: see ``_verify_slot``."""
    if "access_token" in request.args or "api_key" in request.args:
        raise BadRequest("Credentials are accepted only in request headers, never in the URL")
    master_key = request.headers.get("X-Master-Key")
    if master_key is not None:  # even empty: break-glass decides, never a fall-through
        return _verify("master_key", master_key.strip(), messages.CREDENTIAL_MISSING)
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        return _verify("bearer", bearer_credential(authorization), messages.ACCESS_TOKEN_INVALID)
    api_key = request.headers.get("X-Api-Key")
    if api_key is not None:
        return _verify(
            "api_key", api_key.strip(), messages.CREDENTIAL_MISSING, defer_ip_check=defer_ip_check
        )
    if allowed is None or "session" in allowed:
        try:
            principal = _session_principal()
        except Unauthorized:
            metrics.authentication("session", "rejected")
            raise
        if principal is not None:
            metrics.authentication("session", "success")
            return principal
    metrics.authentication("none", "missing")
    raise Unauthorized(messages.CREDENTIAL_MISSING, headers={"WWW-Authenticate": _challenge()})


def _tenant(principal: Principal) -> Principal:
    """Apply X-Tenant-ID: absent or the principal's own tenant changes nothing; another
    tenant only for a platform super-admin holding admin.users and admin.settings (the
    tenant must exist and live in this region); anyone else gets 403 TENANT_FORBIDDEN,
    audited. Break-glass named its tenant already (its verifier requires the header)."""
    offered = (request.headers.get("X-Tenant-ID") or "").strip()
    if not offered or principal.break_glass:
        return principal
    try:
        tenant = uuid.UUID(offered)
    except ValueError:
        raise BadRequest("X-Tenant-ID must be a tenant id (a UUID)") from None
    if tenant == principal.family_id:
        return principal
    switch = (
        principal.user_bound
        and principal.role == "super_admin"
        and principal.permissions >= TENANT_SWITCH_PERMISSIONS
        and tenant_in_region(tenant, current_region())
    )
    record(
        "tenant.switched" if switch else "tenant.denied",
        outcome="success" if switch else "denied",
        now=utcnow(),
        caller=current_caller(),
        actor_user_id=principal.user_id,
        family_id=principal.family_id,
        credential=principal.credential_kind,
        credential_id=principal.credential_id,
        requested_tenant=str(tenant),
        method=request.method,
        path=request.path,
    )
    db.session.commit()
    if not switch:
        raise TenantForbidden()
    # Acting in another tenant is never the account holder managing their own credentials.
    return dataclasses.replace(
        principal, family_id=tenant, home_family_id=principal.family_id, first_party=False
    )


def require(
    scope: str | None = None,
    permission: str | Iterable[str] | None = None,
    *,
    credentials: Iterable[str] | None = None,
    user_required: bool = False,
    limit_after_scope: bool = False,
    first_party_only: bool = False,
    feature: str | None = None,
    reads_only: bool = False,
) -> Callable[[F], F]:
    """Protect a view: who may call it (credential kinds), with which scope, with which
    permissions. Nothing else in views checks credentials. The rate limit counts before the
    scope check, except where ``limit_after_scope`` (Sure's enable_ai).

    ``first_party_only``: only the account holder themself (``principal.first_party``: the
    browser session, or a first-party app's token) — for routes that manage credentials or
    account security. Checked before the scope, so a third-party token is refused with the
    same clear 403 whatever scope the user granted it.

    ``feature``: a licensed feature (identity.roles.FEATURES) the tenant's plan must include.
    A route needing an MFA-gated permission (identity.roles.MFA_GATED) asks a user-bound
    caller for TOTP enrolment when APP_ENV=production.

    ``reads_only``: the view writes nothing, so on a safe method its request runs without a
    transaction of its own (extensions.reads_only: no BEGIN / ROLLBACK round trips on
    PostgreSQL), credential lookup included."""
    allowed = None if credentials is None else frozenset(credentials)
    needed = frozenset([permission] if isinstance(permission, str) else permission or ())
    mfa_gated = bool(needed & MFA_GATED)
    if feature is not None and feature not in FEATURES:
        raise ValueError(f"unknown feature {feature!r}")

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if reads_only and request.method in SAFE_METHODS:
                declare_reads_only()
            principal = resolve(allowed, defer_ip_check=not limit_after_scope)
            g.tenant_id = principal.family_id  # echoed even if the tenant header is refused
            if not limit_after_scope:  # the tenant does not change whose budget it is
                limits.apply(principal, blocked_ip_check=g.pop("gate_ip_check", None))
            principal = _tenant(principal)
            g.principal = principal
            g.tenant_id = principal.family_id
            if access_log.isEnabledFor(logging.INFO):  # Sure's log_api_access
                access_log.info(
                    "API access: %s %s user=%s via %s %s",
                    request.method,
                    request.path,
                    principal.user_id,
                    principal.credential_kind,
                    principal.credential_id,
                )
            if first_party_only and not principal.first_party:
                raise Forbidden(messages.FIRST_PARTY_ONLY)
            if allowed is not None and principal.credential_kind not in allowed:
                raise Forbidden("This endpoint does not accept this kind of credential")
            if user_required and principal.user_id is None:
                raise Forbidden("This endpoint needs a user, not a service credential")
            if scope is not None and not principal.has_scope(scope):
                wanted = "read_write" if scope == "write" else scope
                raise Forbidden(
                    f"This action requires the '{scope}' scope",
                    error="insufficient_scope",
                    headers={
                        "WWW-Authenticate": _challenge(
                            'error="insufficient_scope"', f'scope="{wanted}"'
                        )
                    },
                )
            if limit_after_scope:
                limits.apply(principal)
            # All of them (no wildcard); the granted roles are read only when a view needs one.
            if needed and not principal.has_permissions(needed):
                raise Forbidden("You are not authorized to perform this action")
            if feature is not None and feature not in tenant_features(principal.family_id):
                raise FeatureDisabled()
            if (
                mfa_gated
                and principal.user_bound
                and current_app.config["APP_ENV"] == "production"
                and not (principal.user is not None and principal.user.otp_required)
            ):
                raise MfaRequired()
            return view(*args, **kwargs)

        wrapper.required_scope = scope  # type: ignore[attr-defined]
        wrapper.required_credentials = allowed  # type: ignore[attr-defined]
        wrapper.first_party_only = first_party_only  # type: ignore[attr-defined]
        wrapper.required_feature = feature  # type: ignore[attr-defined]
        wrapper.reads_only = reads_only  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator
