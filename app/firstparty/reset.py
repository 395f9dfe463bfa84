"""Resetting a family's financial data, as background work whose progress is reported
honestly: a job row is the queue (``queued`` means nobody has started it), an in-process
worker thread picks it up, and ``flask --app wsgi jobs work`` drains whatever is left (after
a restart, or where the thread runner is off)."""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from app.audit.services import Caller, record
from app.clock import utcnow
from app.errors import TollgateError
from app.extensions import db, execute_count
from app.firstparty.models import FamilyResetJob
from app.resources import services as resources

log = logging.getLogger(__name__)
RUNNER_KEY = "tollgate.reset_runner"


@dataclass(frozen=True)
class ThreadRunner:
    """Runs queued resets in a worker thread of this process, in an app context of its own
    (the thread outlives the request that queued the job)."""

    app: Flask
    executor: ThreadPoolExecutor

    def submit(self, job_id: uuid.UUID) -> None:
        self.executor.submit(_run_in_app, self.app, job_id)


class ResetEnqueueFailed(TollgateError):
    status, error = 500, "reset_enqueue_failed"
    description = "Account reset could not be queued"


def enqueue(
    family_id: uuid.UUID, requested_by: uuid.UUID, *, now: datetime, caller: Caller
) -> FamilyResetJob:
    try:
        # The id is set here, not by the column default at flush, so the audit event below
        # records the job's real id.
        job = FamilyResetJob(
            id=uuid.uuid4(),
            family_id=family_id,
            requested_by=requested_by,
            status="queued",
            created_at=now,
        )
        db.session.add(job)
        record(
            "family.reset_queued",
            now=now,
            caller=caller,
            actor_user_id=requested_by,
            family_id=family_id,
            job_id=str(job.id),
        )
        db.session.commit()
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.exception("could not queue the reset of family %s", family_id)
        raise ResetEnqueueFailed() from exc
    runner: ThreadRunner | None = current_app.extensions.get(RUNNER_KEY)
    if runner is not None:
        runner.submit(job.id)
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
    claimed = execute_count(
        update(FamilyResetJob)
        .where(FamilyResetJob.id == job_id, FamilyResetJob.status == "queued")
        .values(status="running", started_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if claimed != 1:
        return False
    job = db.session.get(FamilyResetJob, job_id)
    assert job is not None
    family = job.family_id
    try:
        deleted = resources.delete_family_data(family)
        job.status, job.deleted, job.finished_at = "complete", deleted, utcnow()
        details: dict[str, Any] = {"job_id": str(job_id), **deleted}
        record("family.reset", now=utcnow(), family_id=family, **details)
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("reset job %s failed", job_id)
        db.session.execute(
            update(FamilyResetJob)
            .where(FamilyResetJob.id == job_id)
            .values(status="failed", finished_at=utcnow())
        )
        db.session.commit()
    return True


def run_queued(*, now: datetime) -> int:
    queued = db.session.scalars(
        select(FamilyResetJob.id)
        .where(FamilyResetJob.status == "queued")
        .order_by(FamilyResetJob.created_at)
    ).all()
    return sum(1 for job_id in queued if run(job_id, now=now))


def latest_job(family_id: uuid.UUID) -> FamilyResetJob | None:
    return db.session.scalar(
        select(FamilyResetJob)
        .where(FamilyResetJob.family_id == family_id)
        .order_by(FamilyResetJob.created_at.desc())
        .limit(1)
    )


def init_app(app: Flask) -> None:
    if app.config["RESET_RUNNER"] == "thread":
        app.extensions[RUNNER_KEY] = ThreadRunner(
            app, ThreadPoolExecutor(max_workers=1, thread_name_prefix="reset")
        )
