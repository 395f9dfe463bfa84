"""Reading one tenant's audit log: filtered, newest first, a page at a time for the API and
the page, or in batches for a streamed export.

Every query starts from ``family_id = <the caller's tenant>``: there is no way to ask for
another tenant's rows (reference §3.1 AuditEvent: "filtered by tenant when read"). The order is
``occurred_at DESC, id DESC`` (id breaks ties between events of the same instant), which the
(family_id, occurred_at) index serves.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, func, or_, select

from app.audit.models import AuditEvent
from app.audit.services import Caller, record
from app.clock import rfc3339
from app.extensions import db
from app.identity.models import User

# What a reader sees of a row: everything but the tenant (always the caller's own).
COLUMNS = (
    AuditEvent.id,
    AuditEvent.occurred_at,
    AuditEvent.event,
    AuditEvent.outcome,
    AuditEvent.actor_user_id,
    AuditEvent.ip,
    AuditEvent.correlation_id,
    AuditEvent.client_id,
    AuditEvent.details,
)
NEWEST_FIRST = (AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
# The details keys that name the credential an event was about or made with: the gate writes
# ``credential`` (tenant.switched / tenant.denied), other events ``credential_type``.
CREDENTIAL_KEYS = ("credential_type", "credential")

EventRow = Row[Any]


@dataclass(frozen=True)
class AuditFilters:
    """What a reader narrows the log to; None = no condition. ``since`` is inclusive and
    ``until`` exclusive (naive UTC), so consecutive windows neither overlap nor leave gaps."""

    since: datetime | None = None
    until: datetime | None = None
    event: str | None = None
    event_prefix: str | None = None
    outcome: str | None = None
    actor_user_id: uuid.UUID | None = None
    credential_type: str | None = None
    correlation_id: str | None = None

    def described(self) -> dict[str, str]:
        """The filters in use, as strings (for the export's own audit row)."""
        return {
            name: rfc3339(value) if isinstance(value, datetime) else str(value)
            for name, value in asdict(self).items()
            if value is not None
        }


def _conditions(family_id: uuid.UUID, filters: AuditFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [AuditEvent.family_id == family_id]
    if filters.since is not None:
        conditions.append(AuditEvent.occurred_at >= filters.since)
    if filters.until is not None:
        conditions.append(AuditEvent.occurred_at < filters.until)
    if filters.event is not None:
        conditions.append(AuditEvent.event == filters.event)
    if filters.event_prefix is not None:
        # autoescape: "secret_key." must not let "_" match any character.
        conditions.append(AuditEvent.event.startswith(filters.event_prefix, autoescape=True))
    if filters.outcome is not None:
        conditions.append(AuditEvent.outcome == filters.outcome)
    if filters.actor_user_id is not None:
        conditions.append(AuditEvent.actor_user_id == filters.actor_user_id)
    if filters.credential_type is not None:
        conditions.append(
            or_(
                *(
                    AuditEvent.details[key].as_string() == filters.credential_type
                    for key in CREDENTIAL_KEYS
                )
            )
        )
    if filters.correlation_id is not None:
        conditions.append(AuditEvent.correlation_id == filters.correlation_id)
    return conditions


def _events(family_id: uuid.UUID, filters: AuditFilters) -> Select[Any]:
    return select(*COLUMNS).where(*_conditions(family_id, filters))


# --- a page at a time -----------------------------------------------------------------------


@dataclass(frozen=True)
class EventPage:
    events: Sequence[EventRow]
    page: int
    per_page: int
    total_count: int

    @property
    def total_pages(self) -> int:
        return max(1, math.ceil(self.total_count / self.per_page))

    @property
    def pagination(self) -> dict[str, int]:
        """The shape every list endpoint answers with (resources, secret keys)."""
        return {
            "page": self.page,
            "per_page": self.per_page,
            "total_count": self.total_count,
            "total_pages": self.total_pages,
        }


def list_events(
    family_id: uuid.UUID, filters: AuditFilters, *, page: int, per_page: int
) -> EventPage:
    """One page of the tenant's events, newest first, and how many match in all."""
    events = db.session.execute(
        _events(family_id, filters)
        .order_by(*NEWEST_FIRST)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    total = db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(*_conditions(family_id, filters))
    )
    return EventPage(events, page, per_page, total or 0)


def tenant_actor_emails(family_id: uuid.UUID, events: Sequence[EventRow]) -> dict[uuid.UUID, str]:
    """The emails of the page's actors who belong to the tenant (one query). An actor of
    another tenant keeps showing as an id: the page reveals nothing about other tenants."""
    actor_ids = {row.actor_user_id for row in events if row.actor_user_id is not None}
    if not actor_ids:
        return {}
    rows = db.session.execute(
        select(User.id, User.email).where(User.id.in_(actor_ids), User.family_id == family_id)
    )
    return {row.id: row.email for row in rows}


# --- an export ------------------------------------------------------------------------------


def export_cut() -> int:
    """The newest event id when an export starts: the export holds the log as it stood then,
    whatever is written while it streams (its own ``audit_log.exported`` row included)."""
    return db.session.scalar(select(func.max(AuditEvent.id))) or 0


def _batch(
    family_id: uuid.UUID,
    filters: AuditFilters,
    *,
    cut: int,
    after: EventRow | None,
    size: int,
) -> list[EventRow]:
    """The next ``size`` events after ``after`` in newest-first order (keyset pagination: no
    OFFSET, so batch n costs what batch 1 does)."""
    query = _events(family_id, filters).where(AuditEvent.id <= cut)
    if after is not None:
        query = query.where(
            or_(
                AuditEvent.occurred_at < after.occurred_at,
                and_(AuditEvent.occurred_at == after.occurred_at, AuditEvent.id < after.id),
            )
        )
    return list(db.session.execute(query.order_by(*NEWEST_FIRST).limit(size)).all())


def export_batches(
    family_id: uuid.UUID, filters: AuditFilters, *, cut: int, batch_size: int
) -> Iterator[list[EventRow]]:
    """The tenant's matching events up to ``cut``, newest first, ``batch_size`` rows per query.

    The first batch is read now, before any byte of the response is sent, so that an
    unreachable database is still a clean 503; the rest is read as the client consumes the
    stream."""
    first = _batch(family_id, filters, cut=cut, after=None, size=batch_size)

    def batches() -> Iterator[list[EventRow]]:
        batch = first
        while batch:
            yield batch
            if len(batch) < batch_size:
                return
            batch = _batch(family_id, filters, cut=cut, after=batch[-1], size=batch_size)

    return batches()


def record_export(
    family_id: uuid.UUID,
    filters: AuditFilters,
    *,
    export_format: str,
    cut: int,
    actor_user_id: uuid.UUID | None,
    credential_type: str,
    now: datetime,
    caller: Caller,
) -> None:
    """Audit the export itself (who, which format, which filters, up to which event). Commits
    before the first byte streams: an export never leaves without its row."""
    record(
        "audit_log.exported",
        now=now,
        caller=caller,
        actor_user_id=actor_user_id,
        family_id=family_id,
        credential_type=credential_type,
        format=export_format,
        filters=filters.described(),
        through_event_id=cut,
    )
    db.session.commit()
