"""Deciding a break-glass request, and its audit trail.

The order (reference §3.5 step 1): the key (inactive or wrong: one generic 401, never a
fall-through to a weaker credential, T9), the reason (production), the tenant, the rate
limits, then the audit row — written and committed in its own transaction *before* the view
runs. If that row cannot be written the request is refused with 503 and the view never runs
("fully audited", 003.43, T7). After the response a second, append-only row records the
result; a refused attempt gets one ``break_glass.denied`` row. No row ever holds the key.
"""

from __future__ import annotations

import logging
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from app import crypto, ratelimit
from app.audit.services import Caller, record
from app.breakglass.settings import BreakGlassSettings
from app.config import current_region
from app.errors import BadRequest, ServiceUnavailable, TooManyRequests
from app.extensions import db
from app.gate import CredentialRejected, TenantForbidden, messages
from app.identity.tenants import tenant_in_region
from app.ratelimit import Throttle

log = logging.getLogger(__name__)

EXTENSION_KEY = "tollgate.breakglass"
REASON_MAX_LENGTH = 500
USER_AGENT_MAX_LENGTH = 256
TENANT_HEADER_MAX_LENGTH = 64
# C23: separate buckets, one for the whole deployment and one per client IP.
DEPLOYMENT_BUDGET = Throttle("break-glass", "BREAK_GLASS_RATE_LIMIT")
IP_BUDGET = Throttle("break-glass-ip", "BREAK_GLASS_RATE_LIMIT_IP")
DEPLOYMENT = "deployment"
USED, COMPLETED, DENIED = "break_glass.used", "break_glass.completed", "break_glass.denied"
# Unicode categories removed from user-supplied text before it is stored: control characters,
# invisible format characters (bidi overrides) and line/paragraph separators (log forging).
_STRIPPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_BLANKS = str.maketrans(dict.fromkeys("\t\n\v\f\r\u2028\u2029", " "))


class ReasonRequired(BadRequest):
    error = "break_glass_reason_required"
    description = "X-Break-Glass-Reason is required with X-Master-Key"


class TenantRequired(BadRequest):
    error = "tenant_required"
    description = "X-Tenant-ID is required with X-Master-Key: name the one tenant to act in"


@dataclass
class Attempt:
    """What a break-glass request said about itself (never the key), and how far it got."""

    method: str
    path: str
    reason: str | None
    requested_tenant: str | None
    user_agent: str | None
    tenant: uuid.UUID | None = None  # once verified
    failure: str | None = None  # why it was refused
    used: bool = False  # the audit row is committed: the view may run

    def details(self) -> dict[str, Any]:
        return {
            "credential": "break_glass",
            "reason": self.reason,
            "tenant": str(self.tenant) if self.tenant is not None else None,
            "requested_tenant": self.requested_tenant if self.tenant is None else None,
            "method": self.method,
            "path": self.path,
            "user_agent": self.user_agent,
        }


def sanitise(text: str | None, limit: int) -> str | None:
    """User input made safe to store and show: control, format and separator characters
    removed, surrounding blanks trimmed, at most ``limit`` characters; blank is None (T30)."""
    if text is None:
        return None
    spaced = text.translate(_BLANKS)  # a tab or line break still separates words
    kept = "".join(c for c in spaced if unicodedata.category(c) not in _STRIPPED_CATEGORIES)
    return kept.strip()[:limit] or None


def current_settings() -> BreakGlassSettings:
    settings: BreakGlassSettings = current_app.extensions[EXTENSION_KEY]
    return settings


def key_matches(settings: BreakGlassSettings, presented: str, now: datetime) -> bool:
    """Active and equal, compared in constant time over digests (equal lengths, so not even
    the key's length leaks). An empty key never matches anything (T7)."""
    if not presented or not settings.active(now):
        return False
    return crypto.constant_time_equals(crypto.digest(presented), crypto.digest(settings.master_key))


def resolve_tenant(settings: BreakGlassSettings, requested: str | None) -> uuid.UUID:
    """The one tenant the request acts in (C16): named, a UUID, an existing active tenant of
    this region, on the allowlist if there is one."""
    if not requested:
        raise TenantRequired()
    try:
        tenant = uuid.UUID(requested)
    except ValueError:
        raise TenantForbidden() from None
    if not settings.allows_tenant(tenant) or not tenant_in_region(tenant, current_region()):
        raise TenantForbidden()
    return tenant


def spend_budgets(ip: str) -> None:
    """One unit of the per-IP budget, then of the deployment's; 429 with Retry-After once
    either is spent. Always on: neither SELF_HOSTED nor RATE_LIMIT_ENABLED turns the
    break-glass limits off (C23). Spent first, then checked, in the shared store: exact across
    workers and instances."""
    for throttle, key in ((IP_BUDGET, ip), (DEPLOYMENT_BUDGET, DEPLOYMENT)):
        window = throttle.window(key)
        if ratelimit.incr(window.key, 1, window.expire_at) > window.limit:
            raise TooManyRequests(
                window.resets_in, "Too many break-glass requests. Try again later."
            )


def admit(attempt: Attempt, presented: str, *, ip: str, now: datetime, caller: Caller) -> None:
    """Let the request through, or raise; ``attempt.failure`` says why it was refused.
    On success the ``break_glass.used`` row is committed and ``attempt.tenant`` is set."""
    settings = current_settings()
    try:
        if not key_matches(settings, presented, now):
            attempt.failure = "invalid_key"
            raise CredentialRejected(messages.CREDENTIAL_MISSING)
        if current_app.config["APP_ENV"] == "production" and attempt.reason is None:
            raise ReasonRequired()
        attempt.tenant = resolve_tenant(settings, attempt.requested_tenant)
        spend_budgets(ip)
    except (ReasonRequired, TenantRequired, TenantForbidden, TooManyRequests) as refused:
        attempt.failure = refused.error
        raise
    record_use(attempt, now=now, caller=caller)


def record_use(attempt: Attempt, *, now: datetime, caller: Caller) -> None:
    """The ``break_glass.used`` row in a transaction of its own, committed before the view
    runs; 503 if it cannot be written (no unaudited break-glass request, T7)."""
    try:
        db.session.rollback()  # nothing read or added so far rides along with the audit row
        record(USED, now=now, caller=caller, family_id=attempt.tenant, **attempt.details())
        db.session.commit()
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.error("break-glass request refused: audit row not written (%s)", type(exc).__name__)
        attempt.failure = "audit_unavailable"
        raise ServiceUnavailable(
            "Break-glass requests are refused while the audit log cannot be written",
            headers={"Retry-After": "5"},
        ) from None
    attempt.used = True


def _outcome(attempt: Attempt, status: int) -> str:
    if not attempt.used or 400 <= status < 500:
        return "denied"
    return "error" if status >= 500 else "success"


def record_result(attempt: Attempt, status: int, *, now: datetime, caller: Caller) -> None:
    """After the response: ``break_glass.completed`` (a new row: audit rows are never
    updated) or, for a refused attempt, ``break_glass.denied``. The response is already
    decided, so a failed write is logged, not raised."""
    try:
        db.session.rollback()  # the view committed its work; nothing else rides along
        record(
            COMPLETED if attempt.used else DENIED,
            outcome=_outcome(attempt, status),
            now=now,
            caller=caller,
            family_id=attempt.tenant,
            status_code=status,
            failure=attempt.failure,
            **attempt.details(),
        )
        db.session.commit()
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.error("break-glass result not audited (status %s): %s", status, type(exc).__name__)
