"""What the audit-log API accepts (its filters) and returns (its events), one shape for the
list, the NDJSON export and the OpenAPI document.

Filters are strict: an unknown parameter or a malformed value is a 422, never a silently
wider answer (an auditor who mistypes ``outcom=denied`` must not read every event as if it
were the denied ones)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from app.auditlog.services import AuditFilters, EventRow
from app.clock import rfc3339

# RFC 3339 §5.6 date-time: a full date, a full time and a zone (Z or an offset).
RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
# Event names, outcomes and credential kinds are dot/underscore words; correlation ids follow
# the gate's pattern. Nothing else can match a stored value, and a NUL byte never reaches SQL.
NAME = validate.Regexp(
    r"\A[A-Za-z0-9._:-]{1,64}\Z", error="must be 1-64 letters, digits or . _ : -"
)
CORRELATION_ID = validate.Regexp(
    r"\A[A-Za-z0-9._-]{1,128}\Z", error="must be 1-128 letters, digits or . _ -"
)
FORMATS = ("csv", "ndjson")


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 date-time as naive UTC (how timestamps are stored); ValueError otherwise."""
    if not RFC3339.fullmatch(text):
        raise ValueError(text)
    # Python reads at most 6 fractional digits; the 7th onwards is below what we store.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.upper().replace(" ", "T"))
    try:
        return datetime.fromisoformat(text).astimezone(UTC).replace(tzinfo=None)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError(text) from exc


class Timestamp(fields.String):
    """An RFC 3339 date-time with its zone (``2026-01-02T03:04:05Z``), loaded as naive UTC."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return parse_rfc3339(text)
        except ValueError:
            raise ValidationError(
                "must be an RFC 3339 date-time with a time zone, e.g. 2026-01-02T03:04:05Z"
            ) from None


class AuditEventFilters(Schema):
    class Meta:
        unknown = RAISE

    since = Timestamp(
        metadata={"format": "date-time", "description": "Events at or after this instant."}
    )
    until = Timestamp(
        metadata={"format": "date-time", "description": "Events before this instant."}
    )
    event = fields.String(
        validate=NAME, metadata={"description": "Exactly this event, e.g. login."}
    )
    event_prefix = fields.String(
        validate=NAME,
        metadata={"description": "Events whose name starts with this, e.g. secret_key."},
    )
    outcome = fields.String(validate=NAME, metadata={"description": "success, failure or denied."})
    actor_user_id = fields.UUID(metadata={"description": "Events of this user."})
    credential_type = fields.String(
        validate=NAME,
        metadata={
            "description": "Events naming this credential kind in their details "
            "(credential_type, or credential as the gate records it), e.g. session, api_key."
        },
    )
    correlation_id = fields.String(
        validate=CORRELATION_ID,
        metadata={"description": "Events of one request (its X-Correlation-ID)."},
    )

    @validates_schema
    def _window(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "since" in data and "until" in data and data["since"] >= data["until"]:
            raise ValidationError("must be later than since", "until")


class AuditEventListQuery(AuditEventFilters):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=25, validate=validate.Range(min=1, max=100))


class AuditEventExportQuery(AuditEventFilters):
    format = fields.String(
        load_default="csv",
        validate=validate.OneOf(FORMATS),
        metadata={"description": "csv (the default) or ndjson (one event per line)."},
    )


def filters_of(query: dict[str, Any]) -> AuditFilters:
    """The service's filters from a loaded query (page, per_page and format left out)."""
    names = AuditEventFilters().fields
    return AuditFilters(**{name: value for name, value in query.items() if name in names})


# --- what the API returns -------------------------------------------------------------------


class AuditEventOut(Schema):
    """One event as a reader sees it (never its tenant: always the caller's)."""

    id = fields.Integer(required=True)
    occurred_at = fields.String(required=True, metadata={"format": "date-time"})
    event = fields.String(required=True)
    outcome = fields.String(required=True)
    actor_user_id = fields.UUID(required=True, allow_none=True)
    ip = fields.String(required=True, allow_none=True)
    correlation_id = fields.String(required=True, allow_none=True)
    client_id = fields.String(required=True, allow_none=True)
    details = fields.Dict(
        required=True,
        metadata={"description": "What the event recorded besides the columns; never a secret."},
    )


class AuditEventPagination(Schema):
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total_count = fields.Integer(required=True)
    total_pages = fields.Integer(required=True)


class AuditEventPage(Schema):
    events = fields.List(fields.Nested(AuditEventOut), required=True)
    pagination = fields.Nested(AuditEventPagination, required=True)


def event_out(row: EventRow) -> dict[str, Any]:
    """An event in the AuditEventOut shape, built directly (an export streams many)."""
    return {
        "id": row.id,
        "occurred_at": rfc3339(row.occurred_at),
        "event": row.event,
        "outcome": row.outcome,
        "actor_user_id": None if row.actor_user_id is None else str(row.actor_user_id),
        "ip": row.ip,
        "correlation_id": row.correlation_id,
        "client_id": row.client_id,
        "details": row.details or {},
    }
