"""RedCloud's example resources: the tenant's scans and the dashboard that counts them.

Every lookup carries the tenant (family) id, so another tenant's scan is indistinguishable
from one that does not exist (404). Who ran a scan is the caller's user, or nobody for a
service credential (an access key has no user).
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime

from sqlalchemy import delete, func, select

from app.errors import NotFound, ValidationFailed
from app.extensions import db, execute_count
from app.resources.models import SCAN_STATUSES, Scan
from app.resources.services import Page, paginate

TARGET_MAX_LENGTH = 255


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(message, extra={"errors": [message]})


def _clean_target(target: str) -> str:
    """The target as stored: trimmed, 1 to 255 characters, no control characters (a target
    ends up in logs, CSV exports and pages)."""
    cleaned = target.strip()
    if not cleaned:
        raise _invalid("Target can't be blank")
    if len(cleaned) > TARGET_MAX_LENGTH:
        raise _invalid(f"Target is too long (maximum is {TARGET_MAX_LENGTH} characters)")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in cleaned):
        raise _invalid("Target must not contain control characters")
    return cleaned


def run_scan(
    family_id: uuid.UUID, *, target: str, created_by_user_id: uuid.UUID | None, now: datetime
) -> Scan:
    """Queue a scan of ``target`` for the tenant. Commits."""
    scan = Scan(
        family_id=family_id,
        target=_clean_target(target),
        status="queued",
        created_at=now,
        created_by_user_id=created_by_user_id,
    )
    db.session.add(scan)
    db.session.commit()
    return scan


def list_scans(family_id: uuid.UUID, page: int = 1, per_page: int = 25) -> Page:
    """The tenant's scans, newest first."""
    query = (
        select(Scan)
        .where(Scan.family_id == family_id)
        .order_by(Scan.created_at.desc(), Scan.id.desc())
    )
    return paginate(query, page, per_page)


def delete_scan(family_id: uuid.UUID, scan_id: str) -> None:
    """Delete one of the tenant's scans; an unknown id, or another tenant's, is a 404."""
    try:
        key = uuid.UUID(scan_id)
    except ValueError as exc:
        raise NotFound() from exc
    deleted = execute_count(delete(Scan).where(Scan.id == key, Scan.family_id == family_id))
    if not deleted:
        db.session.rollback()
        raise NotFound()
    db.session.commit()


def count_by_status(family_id: uuid.UUID) -> dict[str, int]:
    """The dashboard: how many of the tenant's scans are in each status (every status
    named, zero included), in one grouped query."""
    rows = db.session.execute(
        select(Scan.status, func.count()).where(Scan.family_id == family_id).group_by(Scan.status)
    )
    counted = {status: int(count) for status, count in rows}
    return {status: counted.get(status, 0) for status in SCAN_STATUSES}


def dashboard_csv(family_id: uuid.UUID) -> str:
    """The dashboard as CSV (``status,count`` per status, then the total): what the
    ``reports.export`` feature licenses."""
    counts = count_by_status(family_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["status", "count"])
    for status, count in counts.items():
        writer.writerow([status, count])
    writer.writerow(["total", sum(counts.values())])
    return out.getvalue()
