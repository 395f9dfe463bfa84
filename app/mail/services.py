"""The outbox: enqueue in the caller's unit of work, deliver after it commits.

A feature that sends mail does, in its service::

    mail.enqueue(to=user.email, subject="…", body="…", now=now)  # adds a row; no commit
    db.session.commit()  # the feature's own unit of work: its change and its mail together

and then, right after that commit (in the view or command that called the service)::

    mail.deliver_pending(now=utcnow())

``enqueue`` never commits, so a failed operation (rolled back) sends nothing and a committed
one always has its mail: the transactional outbox. ``deliver_pending`` claims pending messages
atomically, sends them and records the outcome; it never raises, so a mail server that is down
cannot fail the request whose work is already committed. A message that could not be sent stays
pending (``attempts`` and ``last_error`` say why) and goes with the next delivery: the next
feature call, or ``flask --app wsgi mail deliver`` (run it from cron where mail matters).
Call ``deliver_pending`` only after committing: it commits its own unit.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from email.message import EmailMessage

from flask import current_app
from sqlalchemy import ColumnElement, select, update

from app.clock import rfc3339
from app.crypto import decrypt, encrypt
from app.extensions import db, execute_count
from app.mail import backends
from app.mail.models import OutboxMessage
from app.purging import purge_in_batches

log = logging.getLogger(__name__)

# A claim older than this belongs to a worker that died mid-delivery; another may take over.
# Far above the SMTP timeouts a batch can spend, so a live worker never loses its claim.
CLAIM_TIMEOUT = timedelta(minutes=5)

# Failures of one message only (it cannot be decrypted or encoded, the server refused it):
# the batch goes on. Anything else (server down, TLS, login, disk) ends the batch.
_MESSAGE_ERRORS: tuple[type[Exception], ...] = (ValueError, *backends.REJECTED)


def enqueue(*, to: str, subject: str, body: str, now: datetime) -> OutboxMessage:
    """Add a message to the outbox in the current session, without committing: the caller's
    commit sends it (with whatever it is about), the caller's rollback drops it.

    ValueError for a recipient or subject that cannot be a header (a line break, too long)."""
    to = to.strip()
    if not to or "@" not in to or len(to) > 254:
        raise ValueError("mail recipient must be an email address of at most 254 characters")
    if len(subject) > 255:
        raise ValueError("mail subject must be at most 255 characters")
    if any(c in value for value in (to, subject) for c in "\r\n"):
        raise ValueError("mail recipient and subject must be single lines")
    message = OutboxMessage(
        recipient=to,
        subject=subject,
        body_encrypted=encrypt(body),
        created_at=now,
        attempts=0,
    )
    db.session.add(message)
    return message


def _claimable(now: datetime) -> ColumnElement[bool]:
    return OutboxMessage.sent_at.is_(None) & (
        OutboxMessage.claimed_at.is_(None) | (OutboxMessage.claimed_at < now - CLAIM_TIMEOUT)
    )


def _claim(*, now: datetime, limit: int) -> list[OutboxMessage]:
    """Claim up to ``limit`` pending messages, oldest first, and commit the claims so other
    workers see them. Each claim is a conditional UPDATE whose row count decides: of two
    workers reading the same candidates, only one gets each row (on PostgreSQL the second
    waits for the first's commit, then finds the row claimed)."""
    order = (OutboxMessage.created_at, OutboxMessage.id)
    candidates = db.session.scalars(
        select(OutboxMessage.id).where(_claimable(now)).order_by(*order).limit(limit)
    ).all()
    claimed = [
        message_id
        for message_id in candidates
        if execute_count(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, _claimable(now))
            .values(claimed_at=now)
            .execution_options(synchronize_session=False)
        )
        == 1
    ]
    db.session.commit()
    if not claimed:
        return []
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.id.in_(claimed))
            .order_by(*order)
            .execution_options(populate_existing=True)
        )
    )


def _describe(exc: BaseException) -> str:
    """Exception class and the first line of its message: enough to act on, never a body."""
    lines = str(exc).strip().splitlines()
    text = type(exc).__name__ + (f": {lines[0]}" if lines else "")
    return text[:255]


def _email(message: OutboxMessage) -> EmailMessage:
    return backends.build_message(
        message_id=message.id,
        sender=current_app.config["MAIL_SENDER"],
        to=message.recipient,
        subject=message.subject,
        body=decrypt(message.body_encrypted),
        created_at=message.created_at,
    )


def _name(message: OutboxMessage) -> str:
    return f"{message.created_at:%Y%m%dT%H%M%SZ}-{message.id}"


def _failed(message: OutboxMessage, exc: BaseException) -> None:
    message.attempts += 1
    message.last_error = _describe(exc)
    message.claimed_at = None
    db.session.commit()
    log.warning(
        "mail %s to %s not sent (attempt %d): %s",
        message.id,
        message.recipient,
        message.attempts,
        message.last_error,
    )


def _release(messages: list[OutboxMessage]) -> None:
    """Give back claims not tried, so the next delivery takes them at once."""
    if messages:
        execute_count(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_([m.id for m in messages]), OutboxMessage.sent_at.is_(None))
            .values(claimed_at=None)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()


def deliver_pending(*, now: datetime, limit: int = 50) -> int:
    """Send up to ``limit`` pending messages with the configured backend; how many were sent.

    Never raises: a failure is recorded on the message (``attempts``, ``last_error``), logged,
    and retried by the next delivery. Each outcome is committed as soon as it is known, so a
    worker that dies mid-batch resends nothing it already sent."""
    try:
        backend = backends.from_config(current_app.config, current_app.instance_path)
    except ValueError as exc:
        log.error("mail not delivered: %s", exc)
        return 0
    sent = 0
    try:
        claimed = _claim(now=now, limit=limit)
        for position, message in enumerate(claimed):
            try:
                backend.send(_email(message), name=_name(message))
            except _MESSAGE_ERRORS as exc:
                _failed(message, exc)
                continue
            except Exception as exc:
                _failed(message, exc)
                _release(claimed[position + 1 :])
                break
            message.sent_at = now
            message.claimed_at = None
            db.session.commit()
            sent += 1
    except Exception:  # the database itself: unfinished claims lapse after CLAIM_TIMEOUT
        db.session.rollback()
        log.exception("mail delivery stopped")
    finally:
        backend.close()
    return sent


def outbox(*, to: str | None = None, limit: int = 100) -> list[dict[str, str | None]]:
    """Messages for an operator, newest first: recipient, subject, decrypted body (None when
    the configured keys cannot decrypt it) and when it was sent (None: pending)."""
    query = (
        select(OutboxMessage)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(limit)
    )
    if to is not None:
        query = query.where(OutboxMessage.recipient == to.strip())
    listed: list[dict[str, str | None]] = []
    for message in db.session.scalars(query):
        try:
            body: str | None = decrypt(message.body_encrypted)
        except ValueError:
            body = None
        listed.append(
            {
                "to": message.recipient,
                "subject": message.subject,
                "body": body,
                "sent_at": rfc3339(message.sent_at) if message.sent_at else None,
            }
        )
    return listed


def purge_sent(*, now: datetime, batch_size: int | None = None) -> int:
    """Delete messages sent more than ``MAIL_OUTBOX_RETENTION`` seconds ago, in batches
    (``TOKEN_PURGE_BATCH_SIZE`` by default); pending ones stay. Commits per batch."""
    cutoff = now - timedelta(seconds=current_app.config["MAIL_OUTBOX_RETENTION"])
    return purge_in_batches(
        OutboxMessage.id,
        OutboxMessage.sent_at < cutoff,
        batch_size=batch_size or current_app.config["TOKEN_PURGE_BATCH_SIZE"],
    )
