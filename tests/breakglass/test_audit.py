"""Every break-glass request is audited: the use in its own committed transaction before the
view runs (no row, no request: 503), the result as a second append-only row, every refusal
as a denied row; never the key; the reason sanitised (003.24, 003.35, 003.43, T7, T30)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from app.extensions import db
from tests.breakglass.helpers import ENABLED, MASTER_KEY, REASON, TAGS, events, master, row_text
from tests.support.factories import UserInfo
from tests.support.http import api_error, api_key

pytestmark = pytest.mark.config(**ENABLED)

AGENT = "incident-runbook/1.0"


@contextmanager
def audit_log_refusing_inserts(app: Flask) -> Iterator[None]:
    """The audit table refuses every INSERT (a trigger, as a full disk or a revoked grant
    would): the database's own refusal, nothing mocked."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            create = [
                "CREATE TRIGGER bg_refuse_audit BEFORE INSERT ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END"
            ]
            drop = ["DROP TRIGGER bg_refuse_audit"]
        else:
            create = [
                "CREATE FUNCTION bg_refuse_audit() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'audit log unavailable'; END $$",
                "CREATE TRIGGER bg_refuse_audit BEFORE INSERT ON audit_events "
                "FOR EACH ROW EXECUTE FUNCTION bg_refuse_audit()",
            ]
            drop = [
                "DROP TRIGGER bg_refuse_audit ON audit_events",
                "DROP FUNCTION bg_refuse_audit()",
            ]
        with engine.begin() as conn:
            for statement in create:
                conn.execute(text(statement))
    try:
        yield
    finally:
        with app.app_context(), db.engine.begin() as conn:
            for statement in drop:
                conn.execute(text(statement))


def _assert_no_key(app: Flask) -> None:
    for event in events(app):
        assert MASTER_KEY not in row_text(event)
        assert MASTER_KEY[:16] not in row_text(event)


# --- a request let through ------------------------------------------------------------------------


def test_a_use_leaves_a_used_row_and_then_a_completed_row(app, client, tenant) -> None:
    response = client.get(TAGS, headers={**master(tenant), "User-Agent": AGENT})
    assert response.status_code == 200
    used, completed = events(app)
    assert (used.event, used.outcome) == ("break_glass.used", "success")
    assert (completed.event, completed.outcome) == ("break_glass.completed", "success")
    for row in (used, completed):
        assert row.family_id == tenant
        assert row.actor_user_id is None
        assert row.ip == "127.0.0.1"
        assert row.correlation_id == response.headers["X-Correlation-ID"]
        assert row.details["reason"] == REASON
        assert row.details["tenant"] == str(tenant)
        assert row.details["method"] == "GET"
        assert row.details["path"] == TAGS
        assert row.details["user_agent"] == AGENT
        assert row.details["credential"] == "break_glass"
    # Append-only: the result is a second row; the first is left as it was written.
    assert "status_code" not in used.details
    assert completed.details["status_code"] == 200
    assert completed.id > used.id
    _assert_no_key(app)


def test_the_caller_correlation_id_is_the_one_audited(app, client, tenant) -> None:
    response = client.get(TAGS, headers={**master(tenant), "X-Correlation-ID": "support-case-77"})
    assert response.headers["X-Correlation-ID"] == "support-case-77"
    assert {row.correlation_id for row in events(app)} == {"support-case-77"}


def test_the_use_row_survives_a_view_that_fails_and_rolls_back(
    app, client, tenant, make_tag, tag_names
) -> None:
    """Its own transaction, committed before the view: the view's rollback cannot take it."""
    make_tag(tenant, "taken")
    response = client.post(TAGS, json={"tag": {"name": "taken"}}, headers=master(tenant))
    assert response.status_code == 422
    used, completed = events(app)
    assert used.event == "break_glass.used"
    assert (completed.event, completed.outcome) == ("break_glass.completed", "denied")
    assert completed.details["status_code"] == 422
    assert tag_names(tenant) == ["taken"]


@pytest.mark.config(BREAK_GLASS_PERMISSIONS="tags.view")
def test_a_refused_permission_is_audited_as_its_result(app, client, tenant) -> None:
    response = client.post(TAGS, json={"tag": {"name": "x"}}, headers=master(tenant))
    assert response.status_code == 403
    used, completed = events(app)
    assert used.event == "break_glass.used"
    assert completed.outcome == "denied"
    assert completed.details["status_code"] == 403


def test_the_query_string_is_not_audited(app, client, tenant) -> None:
    assert client.get(TAGS + "?page=1&marker=private", headers=master(tenant)).status_code == 200
    for row in events(app):
        assert row.details["path"] == TAGS
        assert "private" not in row_text(row)


# --- the reason (T30) ----------------------------------------------------------------------


def test_the_reason_is_stripped_of_control_characters_and_truncated(app, client, tenant) -> None:
    raw = "line one\nline two\x1b[31m red\x00\u202eevil\u2028" + "x" * 800
    response = client.get(
        TAGS,
        headers=master(tenant, reason=None),
        environ_overrides={"HTTP_X_BREAK_GLASS_REASON": raw},
    )
    assert response.status_code == 200
    reason = events(app, "break_glass.used")[0].details["reason"]
    assert len(reason) == 500
    assert reason.startswith("line one line two[31m rede")
    assert not any(ord(c) < 32 or c in "\x7f\u202e\u2028" for c in reason)


# --- refusals: one denied row each ----------------------------------------------------------------


def _rate_limited(client: Any, tenant: uuid.UUID) -> Any:
    client.get(TAGS, headers=master(tenant))
    return client.get(TAGS, headers=master(tenant))


@pytest.mark.parametrize(
    ("send", "status", "failure"),
    [
        (lambda c, t: c.get(TAGS, headers=master(t, key="w" * 50)), 401, "invalid_key"),
        (lambda c, t: c.get(TAGS, headers=master(t, key="")), 401, "invalid_key"),
        (lambda c, t: c.get(TAGS, headers=master(None)), 400, "tenant_required"),
        (lambda c, t: c.get(TAGS, headers=master(uuid.uuid4())), 403, "tenant_forbidden"),
        (_rate_limited, 429, "rate_limit_exceeded"),
    ],
    ids=["wrong-key", "empty-key", "no-tenant", "unknown-tenant", "rate-limited"],
)
@pytest.mark.config(BREAK_GLASS_RATE_LIMIT_IP="1 per 1 hour")
def test_each_refusal_is_audited_as_denied(app, client, tenant, send, status, failure) -> None:
    response = send(client, tenant)
    assert response.status_code == status
    denied = events(app, "break_glass.denied")
    assert len(denied) == 1
    [row] = denied
    assert row.outcome == "denied"
    assert row.details["failure"] == failure
    assert row.details["status_code"] == status
    assert row.details["reason"] == REASON
    assert row.details["path"] == TAGS
    assert row.correlation_id == response.headers["X-Correlation-ID"]
    assert row.ip == "127.0.0.1"
    _assert_no_key(app)


@pytest.mark.config(APP_ENV="production")
def test_a_missing_reason_in_production_is_audited_as_denied(app, client, tenant) -> None:
    assert client.get(TAGS, headers=master(tenant, reason=None)).status_code == 400
    [row] = events(app)
    assert row.event == "break_glass.denied"
    assert row.details["failure"] == "break_glass_reason_required"
    assert row.details["requested_tenant"] == str(tenant)


def test_a_master_key_on_a_public_route_is_not_a_break_glass_attempt(app, client) -> None:
    assert (
        client.get(
            "/.well-known/oauth-authorization-server", headers={"X-Master-Key": "x"}
        ).status_code
        == 200
    )
    assert client.get("/login", headers={"X-Master-Key": ""}).status_code == 200
    assert events(app) == []


# --- no audit row, no request (003.43) -------------------------------------------------------


def test_when_the_audit_row_cannot_be_written_the_request_is_refused_and_never_runs(
    app, client, tenant, owner: UserInfo, make_key, tag_names
) -> None:
    personal = make_key(owner)  # made before the audit log stops taking rows
    with audit_log_refusing_inserts(app):
        response = client.post(TAGS, json={"tag": {"name": "unaudited"}}, headers=master(tenant))
        assert response.status_code == 503
        assert api_error(response)["error"] == "service_unavailable"
        assert response.headers["Retry-After"]
        assert tag_names(tenant) == []  # the view never ran
        assert client.get(TAGS, headers=master(tenant)).status_code == 503
        # An ordinary credential is not break-glass: it still works.
        ordinary = client.post(TAGS, json={"tag": {"name": "ordinary"}}, headers=api_key(personal))
        assert ordinary.status_code == 201, ordinary.get_json()
    assert tag_names(tenant) == ["ordinary"]
    assert events(app) == []
    # Writable again: break-glass works again, audited.
    assert client.get(TAGS, headers=master(tenant)).status_code == 200
    assert [row.event for row in events(app)] == ["break_glass.used", "break_glass.completed"]


def test_the_key_never_reaches_the_log(client, tenant, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client.get(TAGS, headers=master(tenant))
    client.get(TAGS, headers=master(tenant, key=MASTER_KEY + "x"))
    assert MASTER_KEY not in caplog.text
