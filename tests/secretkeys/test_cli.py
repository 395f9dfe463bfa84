"""The operator commands of issue 9 §1 for secret keys (through Flask's CLI runner: the same
click commands ``flask --app wsgi`` runs): one JSON object on stdout, never a key or link."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select, update

from app.clock import utcnow
from tests.support.secretkeys import call, issue, key_from, latest_link, outbox, reveal, signed_in


def run(app, *args: str):  # type: ignore[no-untyped-def]
    result = app.test_cli_runner().invoke(args=list(args))
    return result


def test_secretkeys_create_mails_the_link_and_prints_no_secret(app, user) -> None:
    result = run(app, "secretkeys", "create", "--email", user.email)
    assert result.exit_code == 0, result.output
    [line] = result.output.strip().splitlines()
    printed = json.loads(line)
    assert set(printed) == {"user_id", "status", "reveal_link_expires_at"}
    assert printed["user_id"] == str(user.id)
    assert printed["status"] == "pending_reveal"
    assert printed["reveal_link_expires_at"].endswith("Z")
    path = latest_link(app, user.email)
    assert path.split("/")[-1] not in result.output
    # The operator's key reveals like any other.
    assert len(key_from(reveal(signed_in(app, user), path))) == 36

    from app.audit.models import AuditEvent
    from app.extensions import db

    with app.app_context():
        created = db.session.scalar(
            select(AuditEvent).where(AuditEvent.event == "secret_key.created")
        )
        assert created.actor_user_id is None  # the platform operator


def test_secretkeys_create_refuses_a_second_key_and_unknown_users(app, user) -> None:
    assert run(app, "secretkeys", "create", "--email", user.email).exit_code == 0
    again = run(app, "secretkeys", "create", "--email", user.email)
    assert again.exit_code != 0
    assert "already has a secret key" in again.output
    unknown = run(app, "secretkeys", "create", "--email", "nobody@example.com")
    assert unknown.exit_code != 0
    assert len(outbox(app, user.email)) == 1


def test_set_ip_restrictions(app, client, user, jwt) -> None:
    result = run(
        app,
        "users",
        "set-ip-restrictions",
        "--email",
        user.email,
        "--restrictions",
        "203.0.113.7, 10.0.0.0/8, ci.example.com",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "email": user.email,
        "entries": [
            {"type": "ip", "value": "203.0.113.7"},
            {"type": "cidr", "value": "10.0.0.0/8"},
            {"type": "hostname", "value": "ci.example.com"},
        ],
    }
    assert call(client, jwt, ip="198.51.100.1").status_code == 401
    assert call(client, jwt, ip="10.2.3.4").status_code == 200

    cleared = run(app, "users", "set-ip-restrictions", "--email", user.email, "--restrictions", "")
    assert json.loads(cleared.output) == {"email": user.email, "entries": []}
    assert call(client, jwt, ip="198.51.100.1").status_code == 200


def test_set_ip_restrictions_names_the_bad_entry(app, user) -> None:
    result = run(
        app, "users", "set-ip-restrictions", "--email", user.email, "--restrictions", "10.0.0.999"
    )
    assert result.exit_code != 0
    assert "'10.0.0.999'" in result.output


def test_set_ip_restrictions_works_before_a_key_exists(app, make_user) -> None:
    """The operator sets them on the user (C27); a key added later obeys them."""
    carol = make_user(email="carol@example.com")
    result = run(
        app, "users", "set-ip-restrictions", "--email", carol.email, "--restrictions", "10.0.0.1"
    )
    assert result.exit_code == 0, result.output


def test_tokens_purge_includes_secret_key_rows(app, client, user, secret) -> None:
    from app.extensions import db
    from app.secretkeys.models import RevealLink, SecretKeyToken

    issue(client, user.email, secret)
    with app.app_context():
        db.session.execute(update(SecretKeyToken).values(expires_at=utcnow() - timedelta(hours=1)))
        db.session.execute(update(RevealLink).values(expires_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    result = run(app, "tokens", "purge")
    assert result.exit_code == 0, result.output
    purged = json.loads(result.output)["purged"]
    assert purged["secret_key_tokens"] == 1
    assert purged["secret_key_reveal_links"] == 1
