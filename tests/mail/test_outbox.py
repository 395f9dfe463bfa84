"""The outbox against a real SMTP server (aiosmtpd on loopback) and the real database:
enqueue in the caller's transaction, deliver after its commit, failures kept and retried,
one send per message under concurrent delivery, bodies never at rest in clear."""

from __future__ import annotations

import logging
import os
import stat
import threading
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update

from app.clock import utcnow
from app.crypto import decrypt
from app.extensions import db
from app.mail import services as mail
from app.mail.models import OutboxMessage
from tests.support.servers import free_port

BODY = "Reveal your secret key (once): https://auth.tollgate.test/reveal/tgx_Zq8 — ünïcødé"
SUBJECT = "Your secret key is ready"


def _rows() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at)))


def _enqueue(n: int = 1, to: str = "ann@example.com", **kwargs) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    now = kwargs.pop("now", utcnow())
    messages = [
        mail.enqueue(
            to=to,
            subject=kwargs.get("subject", SUBJECT),
            body=kwargs.get("body", BODY),
            now=now + timedelta(milliseconds=i),
        )
        for i in range(n)
    ]
    db.session.commit()
    return messages


# --- delivery over SMTP ------------------------------------------------------------------------


def test_committed_message_is_delivered_once(smtp_app, smtp_server):
    now = utcnow()
    with smtp_app.app_context():
        [queued] = _enqueue(now=now)
        assert mail.deliver_pending(now=now) == 1
        assert mail.deliver_pending(now=now) == 0  # sent: never again

        [row] = _rows()
        assert row.sent_at == now
        assert row.attempts == 0 and row.last_error is None and row.claimed_at is None

    [received] = smtp_server.received
    assert received.rcpt_tos == ["ann@example.com"]
    message = received.message
    assert message["Subject"] == SUBJECT
    assert message["From"] == "Tollgate <no-reply@localhost>"
    assert message["To"] == "ann@example.com"
    assert message["Message-ID"] == f"<{queued.id}@localhost>"
    assert message["Date"]
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message.get_content().rstrip() == BODY


@pytest.mark.config(MAIL_SENDER="Tollgate Keys <keys@tollgate.test>")
def test_sender_is_configurable(smtp_app, smtp_server):
    with smtp_app.app_context():
        [queued] = _enqueue()
        assert mail.deliver_pending(now=utcnow()) == 1
    message = smtp_server.received[0].message
    assert message["From"] == "Tollgate Keys <keys@tollgate.test>"
    assert message["Message-ID"] == f"<{queued.id}@tollgate.test>"


def test_rolled_back_unit_of_work_sends_nothing(smtp_app, smtp_server):
    """The transactional outbox: enqueue joins the caller's transaction and never commits."""
    with smtp_app.app_context():
        mail.enqueue(to="ann@example.com", subject=SUBJECT, body=BODY, now=utcnow())
        db.session.rollback()  # the operation the mail was about failed

        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        assert mail.deliver_pending(now=utcnow()) == 0
    assert smtp_server.received == []


def test_enqueue_refuses_what_cannot_be_a_header(app):
    with app.app_context():
        for to, subject in [
            ("ann@example.com\r\nBcc: eve@example.com", SUBJECT),
            ("ann@example.com", "Hello\nBcc: eve@example.com"),
            ("not an address", SUBJECT),
            ("a" * 250 + "@example.com", SUBJECT),
            ("ann@example.com", "s" * 256),
        ]:
            with pytest.raises(ValueError):
                mail.enqueue(to=to, subject=subject, body=BODY, now=utcnow())
        assert not db.session.new


def test_server_down_keeps_the_message_and_a_later_delivery_sends_it(
    app, smtp_server, use_smtp, caplog
):
    caplog.set_level(logging.DEBUG)
    now = utcnow()
    use_smtp(free_port())  # nothing listens there
    with app.app_context():
        first, second = _enqueue(2, now=now)

        assert mail.deliver_pending(now=now) == 0  # does not raise

        db.session.expire_all()
        first, second = _rows()
        assert first.sent_at is None and first.claimed_at is None
        assert first.attempts == 1
        assert first.last_error is not None
        assert first.last_error.startswith("ConnectionRefusedError")
        # The batch stopped at the dead server: the second was released, not counted.
        assert second.sent_at is None and second.claimed_at is None
        assert second.attempts == 0 and second.last_error is None

        use_smtp(smtp_server.port)  # the server is back
        later = now + timedelta(minutes=1)
        assert mail.deliver_pending(now=later) == 2
        db.session.expire_all()
        assert [(m.sent_at, m.attempts) for m in _rows()] == [(later, 1), (later, 0)]
    assert len(smtp_server.received) == 2

    # Ours only: the test server logs every DATA line at DEBUG.
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("app."))
    assert "not sent (attempt 1)" in logged
    assert "tgx_Zq8" not in logged and "tgx_Zq8" not in (first.last_error or "")


def test_a_refused_recipient_fails_alone(smtp_app, smtp_server):
    now = utcnow()
    with smtp_app.app_context():
        _enqueue(to="nobody@reject.example", now=now)
        _enqueue(to="ann@example.com", now=now + timedelta(seconds=1))

        assert mail.deliver_pending(now=now) == 1

        db.session.expire_all()
        refused, delivered = _rows()
        assert refused.sent_at is None and refused.attempts == 1
        assert refused.last_error is not None
        assert refused.last_error.startswith("SMTPRecipientsRefused")
        assert delivered.sent_at == now
    assert [r.rcpt_tos for r in smtp_server.received] == [["ann@example.com"]]


@pytest.mark.config(MAIL_BACKEND="carrier-pigeon")
def test_an_unknown_backend_sends_nothing_and_claims_nothing(app, caplog):
    with app.app_context():
        _enqueue()
        assert mail.deliver_pending(now=utcnow()) == 0
        [row] = _rows()
        assert row.sent_at is None and row.claimed_at is None and row.attempts == 0
    assert "MAIL_BACKEND must be one of" in caplog.text


# --- claims: one sender per message ----------------------------------------------------------


def test_a_claimed_message_is_left_to_its_worker_until_the_claim_lapses(smtp_app, smtp_server):
    now = utcnow()
    with smtp_app.app_context():
        _enqueue(now=now)
        # Another worker claimed it a minute ago and is sending it.
        db.session.execute(update(OutboxMessage).values(claimed_at=now - timedelta(minutes=1)))
        db.session.commit()
        assert mail.deliver_pending(now=now) == 0
        assert smtp_server.received == []

        # That worker died: after the claim timeout the message is taken over.
        later = now + mail.CLAIM_TIMEOUT
        assert mail.deliver_pending(now=later) == 1
    assert len(smtp_server.received) == 1


def test_concurrent_deliveries_send_each_message_once(smtp_app, smtp_server):
    """Two workers (threads, each with its own app context, session and connection) deliver
    the same outbox at once; runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL."""
    now = utcnow()
    n = 30
    with smtp_app.app_context():
        _enqueue(n, now=now)

    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with smtp_app.app_context():
                barrier.wait()
                # Small batches, again and again: the two workers' claims interleave.
                while sent := mail.deliver_pending(now=now, limit=3):
                    results.append(sent)
                db.session.remove()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert sum(results) == n
    ids = [r.message["Message-ID"] for r in smtp_server.received]
    assert len(ids) == n and len(set(ids)) == n
    with smtp_app.app_context():
        rows = _rows()
        assert all(m.sent_at == now and m.attempts == 0 for m in rows)


# --- the file and console backends -------------------------------------------------------------


def test_file_backend_writes_a_private_eml_and_the_body_is_encrypted_at_rest(app, caplog):
    caplog.set_level(logging.INFO, logger="app.mail")
    assert app.config["MAIL_BACKEND"] == "" and app.config["MAIL_SERVER"] == ""  # the default
    with app.app_context():
        [queued] = _enqueue()
        stored = db.session.execute(
            text("SELECT body_encrypted FROM mail_outbox WHERE subject = :s"), {"s": SUBJECT}
        ).scalar_one()
        assert "tgx_Zq8" not in stored and "reveal" not in stored
        assert decrypt(stored) == BODY

        assert mail.deliver_pending(now=utcnow()) == 1

    directory = Path(app.instance_path, "mail")
    [path] = [p for p in directory.iterdir() if str(queued.id) in p.name]
    assert path.suffix == ".eml"
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["To"] == "ann@example.com"
    assert message["Subject"] == SUBJECT
    assert message.get_content().rstrip() == BODY  # type: ignore[attr-defined]

    [line] = [r.getMessage() for r in caplog.records if r.name.startswith("app.mail")]
    assert str(path) in line and "ann@example.com" in line
    assert "tgx_Zq8" not in line


@pytest.mark.config(MAIL_BACKEND="console")
def test_console_backend_prints_the_message(app, capsys):
    with app.app_context():
        _enqueue(body="plain ascii body")
        assert mail.deliver_pending(now=utcnow()) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"Subject: {SUBJECT}" in captured.err and "plain ascii body" in captured.err


# --- the operator view and housekeeping --------------------------------------------------------


def test_outbox_lists_newest_first_decrypted_and_filters_by_recipient(smtp_app):
    now = utcnow()
    with smtp_app.app_context():
        _enqueue(to="ann@example.com", body="first", now=now - timedelta(minutes=2))
        mail.deliver_pending(now=now - timedelta(minutes=1))
        _enqueue(to="ben@example.com", body="second", now=now - timedelta(seconds=30))
        _enqueue(to="ann@example.com", body="third", now=now)

        listed = mail.outbox()
        assert [m["body"] for m in listed] == ["third", "second", "first"]
        assert set(listed[0]) == {"to", "subject", "body", "sent_at"}
        assert listed[0]["sent_at"] is None
        sent_at = listed[2]["sent_at"]
        assert sent_at is not None and sent_at.endswith("Z")

        assert [m["body"] for m in mail.outbox(to="ann@example.com")] == ["third", "first"]
        assert [m["body"] for m in mail.outbox(to="ann@example.com", limit=1)] == ["third"]
        assert mail.outbox(to="zed@example.com") == []


def test_purge_sent_removes_only_messages_sent_before_the_retention(app):
    now = utcnow()
    retention = timedelta(seconds=app.config["MAIL_OUTBOX_RETENTION"])
    assert retention == timedelta(days=7)
    with app.app_context():
        old_sent, recent_sent, old_pending = _enqueue(3, now=now - timedelta(days=30))
        old_sent.sent_at = now - retention - timedelta(minutes=1)
        recent_sent.sent_at = now - retention + timedelta(minutes=1)
        old_pending.attempts = 5  # never sent: stays for an operator to see
        db.session.commit()
        kept = {recent_sent.id, old_pending.id}

        assert mail.purge_sent(now=now, batch_size=1) == 1
        assert {m.id for m in _rows()} == kept
        assert mail.purge_sent(now=now) == 0
