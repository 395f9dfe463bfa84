"""`flask --app wsgi mail outbox|deliver` through real processes (the CLI contract: one JSON
object on stdout), on their own SQLite database; delivery goes to a real SMTP server, configured
through the environment as a deployer would."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.cli import cli_env, flask_cli, flask_json

pytestmark = pytest.mark.slow  # a handful of processes at ~1.5 s each

flask = flask_json


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A fresh SQLite database migrated by `flask db upgrade`; no repository instance/ file
    is read or written, and no MAIL_* setting leaks in from the caller's environment."""
    env = cli_env(tmp_path)
    done = flask_cli(env, "db", "upgrade", "heads")
    assert done.returncode == 0, done.stderr
    return env


def _seed(env: dict[str, str]) -> None:
    """Two messages for ann (one sent long ago), one for ben, written in-process."""
    from app import create_app
    from app.clock import utcnow
    from app.extensions import db
    from app.mail import services as mail
    from tests.support.config import base_config

    config = base_config(env["DATABASE_URL"], Path(env["INSTANCE_PATH"]))
    config.update(SECRET_KEY=env["SECRET_KEY"], ENCRYPTION_KEYS=env["ENCRYPTION_KEYS"])
    app = create_app(config)
    now = utcnow()
    with app.app_context():
        old = mail.enqueue(
            to="ann@example.com", subject="Old", body="old link", now=now - timedelta(days=9)
        )
        old.sent_at = now - timedelta(days=8)
        mail.enqueue(to="ann@example.com", subject="Reveal", body="https://t.example/r/1", now=now)
        mail.enqueue(to="ben@example.com", subject="Reveal", body="https://t.example/r/2", now=now)
        db.session.commit()
        db.engine.dispose()


def test_outbox_deliver_and_purge(env, smtp_server):
    _seed(env)

    ann = flask(env, "mail", "outbox", "--to", "ann@example.com")
    assert set(ann) == {"messages"}
    assert [(m["subject"], m["body"]) for m in ann["messages"]] == [
        ("Reveal", "https://t.example/r/1"),
        ("Old", "old link"),
    ]
    assert all(set(m) == {"to", "subject", "body", "sent_at"} for m in ann["messages"])
    assert ann["messages"][0]["sent_at"] is None
    assert ann["messages"][1]["sent_at"].endswith("Z")

    smtp = {
        **env,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_server.port),
        "MAIL_USE_TLS": "false",
    }
    assert flask(smtp, "mail", "deliver") == {"sent": 2}
    assert flask(smtp, "mail", "deliver") == {"sent": 0}
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == [
        "ann@example.com",
        "ben@example.com",
    ]
    everything = flask(env, "mail", "outbox")["messages"]
    assert len(everything) == 3 and all(m["sent_at"] for m in everything)

    purged = flask(env, "tokens", "purge")["purged"]
    assert purged["mail_outbox"] == 1  # the one sent 8 days ago (retention: 7)
    assert [m["subject"] for m in flask(env, "mail", "outbox")["messages"]] == [
        "Reveal",
        "Reveal",
    ]


def test_deliver_writes_files_without_smtp(env):
    _seed(env)
    assert flask(env, "mail", "deliver", "--limit", "1") == {"sent": 1}
    assert flask(env, "mail", "deliver") == {"sent": 1}
    files = sorted(Path(env["INSTANCE_PATH"], "mail").glob("*.eml"))
    assert len(files) == 2
    assert any(b"https://t.example/r/1" in f.read_bytes() for f in files)
