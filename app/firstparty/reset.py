"""Resetting a family's financial data, as background work whose progress is reported
honestly: a job row is the queue (``queued`` means nobody has started it), an in-process
worker thread picks it up, and ``flask --app wsgi jobs work`` drains whatever is left (after
a restart, or where the thread runner is off)."""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from app.audit.services import Caller, record
from app.clock import utcnow
from app.errors import TollgateError
from app.extensions import db
from app.firstparty.models import FamilyResetJob
from app.resources.models import Account, Sync, Tag, Transaction, Valuation, transaction_tags

log = logging.getLogger(__name__)
EXECUTOR_KEY = "tollgate.reset_executor"


def counts(family_id: uuid.UUID) -> dict[str, int]:
    """What is left of a family's data (Sure leaves syncs out of these counts)."""
    family_transactions = select(Transaction.id).where(Transaction.family_id == family_id)
    return {
        "accounts": _count(select(func.count()).select_from(Account)
                           .where(Account.family_id == family_id)),
        "transactions": _count(select(func.count()).select_from(Transaction)
                               .where(Transaction.family_id == family_id)),
        "tags": _count(select(func.count()).select_from(Tag).where(Tag.family_id == family_id)),
        "taggings": _count(select(func.count()).select_from(transaction_tags).where(
            transaction_tags.c.transaction_id.in_(family_transactions))),
        "valuations": _count(select(func.count()).select_from(Valuation)
                             .where(Valuation.family_id == family_id)),
    }


def _count(query: Any) -> int:
    return int(db.session.scalar(query) or 0)


class ResetEnqueueFailed(TollgateError):
    status, error = 500, "reset_enqueue_failed"
    description = "Account reset could not be queued"


def enqueue(family_id: uuid.UUID, requested_by: uuid.UUID, *, now: datetime,
            caller: Caller) -> FamilyResetJob:
    try:
        # The id is set here, not by the column default at flush, so the audit event below
        # records the job's real id.
        job = FamilyResetJob(id=uuid.uuid4(), family_id=family_id, requested_by=requested_by,
                             status="queued", created_at=now)
        db.session.add(job)
        record("family.reset_queued", now=now, caller=caller, actor_user_id=requested_by,
               family_id=family_id, job_id=str(job.id))
        db.session.commit()
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.exception("could not queue the reset of family %s", family_id)
        raise ResetEnqueueFailed() from exc
    runner = current_app.extensions.get(EXECUTOR_KEY)
    if runner is not None:
        runner.submit(_run_in_app, current_app._get_current_object(), job.id)
    return job


def _run_in_app(app: Flask, job_id: uuid.UUID) -> None:
    with app.app_context():
        try:
            run(job_id, now=utcnow())
        finally:
            db.session.remove()


def run(job_id: uuid.UUID, *, now: datetime) -> bool:
    """Claim a queued job (conditional UPDATE: one runner wins) and delete the family's data
    in one transaction. Returns whether this call ran it."""
    claimed = db.session.execute(
        update(FamilyResetJob).where(FamilyResetJob.id == job_id,
                                     FamilyResetJob.status == "queued")
        .values(status="running", started_at=now).execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if claimed != 1:
        return False
    job = db.session.get(FamilyResetJob, job_id)
    assert job is not None
    family = job.family_id
    try:
        deleted = delete_family_data(family)
        job.status, job.deleted, job.finished_at = "complete", deleted, utcnow()
        record("family.reset", now=utcnow(), family_id=family, job_id=str(job_id), **deleted)
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("reset job %s failed", job_id)
        db.session.execute(update(FamilyResetJob).where(FamilyResetJob.id == job_id)
                           .values(status="failed", finished_at=utcnow()))
        db.session.commit()
    return True


# The family-owned tables delete_family_data empties (the purge's reference check uses it).
FAMILY_DATA_COLUMNS = (Transaction.family_id, Valuation.family_id, Tag.family_id,
                       Sync.family_id, Account.family_id)


def delete_family_data(family_id: uuid.UUID) -> dict[str, int]:
    """Delete a family's financial data inside the caller's transaction; rows deleted per
    kind. Used by the reset and by the purge of a family's last member."""
    ids = select(Transaction.id).where(Transaction.family_id == family_id)
    return {
        "taggings": db.session.execute(delete(transaction_tags).where(
            transaction_tags.c.transaction_id.in_(ids))).rowcount,
        "transactions": db.session.execute(
            delete(Transaction).where(Transaction.family_id == family_id)).rowcount,
        "valuations": db.session.execute(
            delete(Valuation).where(Valuation.family_id == family_id)).rowcount,
        "tags": db.session.execute(delete(Tag).where(Tag.family_id == family_id)).rowcount,
        "syncs": db.session.execute(delete(Sync).where(Sync.family_id == family_id)).rowcount,
        "accounts": db.session.execute(
            delete(Account).where(Account.family_id == family_id)).rowcount,
    }


def run_queued(*, now: datetime) -> int:
    queued = db.session.scalars(
        select(FamilyResetJob.id).where(FamilyResetJob.status == "queued")
        .order_by(FamilyResetJob.created_at)
    ).all()
    return sum(1 for job_id in queued if run(job_id, now=now))


def latest_job(family_id: uuid.UUID) -> FamilyResetJob | None:
    return db.session.scalar(
        select(FamilyResetJob).where(FamilyResetJob.family_id == family_id)
        .order_by(FamilyResetJob.created_at.desc()).limit(1)
    )


def init_app(app: Flask) -> None:
    if app.config["RESET_RUNNER"] == "thread":
        app.extensions[EXECUTOR_KEY] = ThreadPoolExecutor(max_workers=1,
                                                          thread_name_prefix="reset")
