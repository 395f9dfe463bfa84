"""The one source of "now". Services take ``now`` as a parameter; views and commands call this.

Timestamps are stored as naive UTC (``timestamp without time zone``) on every database, so
comparisons behave the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def epoch(moment: datetime) -> int:
    """Unix seconds of a naive-UTC timestamp."""
    return int(moment.replace(tzinfo=UTC).timestamp())


def rfc3339(moment: datetime) -> str:
    """A naive-UTC or aware timestamp as RFC 3339 with a ``Z`` suffix, the one wire format for
    times in JSON bodies."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat() + "Z"
