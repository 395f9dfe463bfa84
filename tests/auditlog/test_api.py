"""GET /api/v1/admin/audit_events: the caller's tenant only, every filter, pagination and its
bounds, strict validation (422 in the envelope, never a 500), who may read (audit.view, no MFA
gate), service credentials, and the gate's tenant.denied rows in the denying tenant's log."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app.clock import utcnow
from app.config import _SECRET_KEYS
from tests.auditlog.support import BASE, BEFORE_SETUP, EVENTS, ids
from tests.support.config import base_config
from tests.support.factories import grant_role

# --- shape and order ----------------------------------------------------------------------


def test_events_come_newest_first_in_the_documented_shape(
    api, admin, reader, seed, listed, client
) -> None:
    family = admin.family_id
    oldest = seed(family, "login", at=BASE, actor=admin.id, correlation_id="req-1", channel="web")
    tie_low = seed(family, "api_key.created", at=BASE + timedelta(minutes=5), client_id="app-1")
    tie_high = seed(family, "api_key.revoked", at=BASE + timedelta(minutes=5), outcome="success")
    newest = seed(family, "mfa.enabled", at=BASE + timedelta(hours=1), ip=None)

    response = api.get(EVENTS, headers=reader, query_string={"until": BEFORE_SETUP})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    # Same instant: the later id first (a stable order across pages and export batches).
    assert ids(body) == [newest, tie_high, tie_low, oldest]
    assert body["pagination"] == {"page": 1, "per_page": 25, "total_count": 4, "total_pages": 1}
    assert body["events"][-1] == {
        "id": oldest,
        "occurred_at": "2020-05-01T12:00:00Z",
        "event": "login",
        "outcome": "success",
        "actor_user_id": str(admin.id),
        "ip": "192.0.2.10",
        "correlation_id": "req-1",
        "client_id": None,
        "details": {"channel": "web"},
    }
    assert body["events"][2]["client_id"] == "app-1"
    assert body["events"][0]["ip"] is None

    # The body matches the schema the OpenAPI document gives for this operation.
    from jsonschema import Draft202012Validator

    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"][EVENTS]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": document["components"]})
    assert list(validator.iter_errors(body)) == []
    documented = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert documented == {
        "since",
        "until",
        "event",
        "event_prefix",
        "outcome",
        "actor_user_id",
        "credential_type",
        "correlation_id",
        "page",
        "per_page",
    }


def test_without_filters_the_setup_events_are_listed_too(admin, reader, listed) -> None:
    """The window in ``listed`` is only a test convenience: with no filter, the whole log."""
    body = listed(reader, until="")  # an empty value is no filter
    assert [e["event"] for e in body["events"]] == ["api_key.created", "user.created"]
    assert {e["actor_user_id"] for e in body["events"]} == {str(admin.id)}


# --- tenancy ------------------------------------------------------------------------------


def test_each_tenant_sees_only_its_own_events(
    make_user, make_key, admin, reader, seed, listed
) -> None:
    other = make_user(email="other.admin@example.com", role="admin")
    other_reader = {"X-Api-Key": make_key(other, scope="read")}
    mine = [seed(admin.family_id, "login", at=BASE + timedelta(minutes=i)) for i in range(3)]
    theirs = [seed(other.family_id, "login", at=BASE + timedelta(minutes=i)) for i in range(2)]
    # An event of no tenant (a failed sign-in for an unknown email) belongs to nobody's log.
    seed(None, "login", outcome="failure", reason="bad_credentials")

    assert sorted(ids(listed(reader))) == mine
    assert sorted(ids(listed(other_reader))) == theirs


def test_a_tenant_parameter_is_refused(api, admin, reader, seed, make_user) -> None:
    other = make_user(role="admin")
    seed(other.family_id, "login")
    for name in ("family_id", "tenant_id"):
        response = api.get(EVENTS, headers=reader, query_string={name: str(other.family_id)})
        assert response.status_code == 422, name
        assert name in " ".join(response.get_json()["errors"])


def test_a_service_credential_reads_its_own_tenants_log(
    app: Flask, api, admin, seed, make_user
) -> None:
    """An access key with the Global Viewer role (every *.view, audit.view included) reads
    the log of the tenant that owns it, and only that."""
    from app.accesskeys import services as accesskeys
    from app.extensions import db
    from app.identity.models import User

    grant_role(app, admin, "global_admin")
    with app.app_context():
        token = accesskeys.create_access_key(
            db.session.get(User, admin.id),
            name="log reader",
            roles=[{"role": "global_viewer"}],
            now=utcnow(),
        ).token
    other = make_user(role="admin")
    mine = seed(admin.family_id, "login")
    seed(other.family_id, "login")
    response = api.get(
        EVENTS,
        headers={"Authorization": f"Bearer {token}"},
        query_string={"until": BEFORE_SETUP},
    )
    assert response.status_code == 200, response.get_json()
    assert ids(response.get_json()) == [mine]


def test_another_tenants_id_in_x_tenant_id_is_denied_and_in_the_denying_tenants_log(
    api, admin, reader, make_user, make_key, listed
) -> None:
    """The gate refuses (403 TENANT_FORBIDDEN) and records tenant.denied in the caller's own
    tenant: its admins see who tried, the named tenant's log shows nothing (T6)."""
    other = make_user(email="victim.admin@example.com", role="admin")
    other_reader = {"X-Api-Key": make_key(other, scope="read")}
    refused = api.get(
        EVENTS,
        headers={**reader, "X-Tenant-ID": str(other.family_id), "X-Correlation-ID": "probe-42"},
    )
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "TENANT_FORBIDDEN"

    denied = listed(reader, until="", event="tenant.denied")["events"]
    assert len(denied) == 1
    assert denied[0]["outcome"] == "denied"
    assert denied[0]["actor_user_id"] == str(admin.id)
    assert denied[0]["correlation_id"] == "probe-42"
    assert denied[0]["details"]["requested_tenant"] == str(other.family_id)
    assert denied[0]["details"]["credential"] == "api_key"
    assert denied[0]["details"]["path"] == EVENTS
    # Found by the credential filter and by the correlation id as well.
    assert ids(listed(reader, until="", credential_type="api_key")) == [denied[0]["id"]]
    assert ids(listed(reader, until="", correlation_id="probe-42")) == [denied[0]["id"]]
    assert listed(other_reader, until="", event="tenant.denied")["events"] == []

    # Naming one's own tenant is fine (and not audited).
    own = api.get(EVENTS, headers={**reader, "X-Tenant-ID": str(admin.family_id)})
    assert own.status_code == 200
    assert own.headers["X-Tenant-ID"] == str(admin.family_id)
    assert len(listed(reader, until="", event="tenant.denied")["events"]) == 1


# --- filters ------------------------------------------------------------------------------


@pytest.fixture
def catalogue(admin, make_user, seed) -> dict[str, Any]:
    """A spread of events in the admin's tenant, one feature per filter."""
    family = admin.family_id
    colleague = make_user(role="member", family_id=family)
    at = BASE
    made = {
        "login": seed(family, "login", at=at, actor=admin.id, correlation_id="c-1", channel="web"),
        "login_failed": seed(
            family,
            "login",
            at=at + timedelta(minutes=1),
            outcome="failure",
            actor=colleague.id,
            reason="bad_credentials",
        ),
        "sk_created": seed(
            family,
            "secret_key.created",
            at=at + timedelta(minutes=2),
            actor=admin.id,
            credential_type="secret_key",
        ),
        "sk_revealed": seed(
            family, "secret_key.revealed", at=at + timedelta(minutes=3), actor=colleague.id
        ),
        # "_" is a LIKE wildcard: a prefix "secret_key." must not match "secretXkey.…".
        "lookalike": seed(family, "secretXkey.created", at=at + timedelta(minutes=4)),
        "denied": seed(
            family,
            "tenant.denied",
            at=at + timedelta(minutes=5),
            outcome="denied",
            actor=admin.id,
            correlation_id="c-2",
            credential="session",
        ),
        "api_key": seed(
            family,
            "api_key.created",
            at=at + timedelta(minutes=6),
            actor=colleague.id,
            correlation_id="c-2",
            credential_type="session",
        ),
    }
    return {"ids": made, "admin": admin, "colleague": colleague}


def _expect(catalogue: dict[str, Any], *names: str) -> list[int]:
    """The named events' ids, newest first (the catalogue was seeded oldest first)."""
    return sorted((catalogue["ids"][name] for name in names), reverse=True)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"event": "login"}, ["login", "login_failed"]),
        ({"event": "secret_key"}, []),  # exact: no prefix match
        ({"event_prefix": "secret_key."}, ["sk_created", "sk_revealed"]),
        ({"event_prefix": "secret"}, ["sk_created", "sk_revealed", "lookalike"]),
        ({"outcome": "failure"}, ["login_failed"]),
        ({"outcome": "denied"}, ["denied"]),
        ({"credential_type": "session"}, ["denied", "api_key"]),
        ({"credential_type": "secret_key"}, ["sk_created"]),
        ({"credential_type": "api_key"}, []),
        ({"correlation_id": "c-2"}, ["denied", "api_key"]),
        (
            {"since": "2020-05-01T12:02:00Z"},
            ["sk_created", "sk_revealed", "lookalike", "denied", "api_key"],
        ),
        # until is exclusive: the 12:02 event is not before 12:02.
        ({"since": "2020-05-01T12:01:00Z", "until": "2020-05-01T12:02:00Z"}, ["login_failed"]),
        # Offsets are honoured: 14:03+02:00 is 12:03Z.
        (
            {"since": "2020-05-01T14:03:00+02:00", "until": "2020-05-01T12:04:00.5Z"},
            ["sk_revealed", "lookalike"],
        ),
        ({"event": "login", "outcome": "success"}, ["login"]),
        ({"event_prefix": "secret_key.", "since": "2020-05-01T12:03:00Z"}, ["sk_revealed"]),
    ],
)
def test_filters(catalogue, reader, listed, params, expected) -> None:
    assert ids(listed(reader, **params)) == _expect(catalogue, *expected)


def test_actor_filter(catalogue, reader, listed) -> None:
    admin_id = str(catalogue["admin"].id)
    colleague_id = str(catalogue["colleague"].id)
    assert ids(listed(reader, actor_user_id=admin_id)) == _expect(
        catalogue, "login", "sk_created", "denied"
    )
    assert ids(listed(reader, actor_user_id=colleague_id, event="login")) == _expect(
        catalogue, "login_failed"
    )
    assert listed(reader, actor_user_id=str(uuid.uuid4()))["events"] == []


def test_the_total_counts_the_filtered_events(catalogue, reader, listed) -> None:
    body = listed(reader, event_prefix="secret", per_page=1)
    assert len(body["events"]) == 1
    assert body["pagination"] == {"page": 1, "per_page": 1, "total_count": 3, "total_pages": 3}


# --- pagination ---------------------------------------------------------------------------


def test_pages_split_the_newest_first_order(admin, reader, seed, listed) -> None:
    made = [seed(admin.family_id, "login", at=BASE + timedelta(seconds=i)) for i in range(7)]
    newest_first = made[::-1]
    pages = [listed(reader, per_page=3, page=page) for page in (1, 2, 3)]
    assert [ids(page) for page in pages] == [newest_first[:3], newest_first[3:6], newest_first[6:]]
    for number, page in enumerate(pages, start=1):
        assert page["pagination"] == {
            "page": number,
            "per_page": 3,
            "total_count": 7,
            "total_pages": 3,
        }
    past_the_end = listed(reader, per_page=3, page=4)
    assert past_the_end["events"] == []
    assert past_the_end["pagination"]["total_count"] == 7
    assert ids(listed(reader, per_page=100)) == newest_first
    assert listed(reader)["pagination"]["per_page"] == 25


def test_an_empty_log_has_one_empty_page(reader, listed) -> None:
    assert listed(reader) == {
        "events": [],
        "pagination": {"page": 1, "per_page": 25, "total_count": 0, "total_pages": 1},
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"per_page": "0"}, "per_page"),
        ({"per_page": "101"}, "per_page"),
        ({"per_page": "ten"}, "per_page"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "100001"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-01-02"}, "since"),  # a date alone is not a date-time
        ({"since": "2026-01-02T03:04:05"}, "since"),  # no zone: ambiguous
        ({"since": "2026-13-01T00:00:00Z"}, "since"),
        ({"since": "2016-12-31T23:59:60Z"}, "since"),  # a leap second: not representable
        ({"since": "0001-01-01T00:00:00+01:00"}, "since"),  # before year 1 in UTC
        ({"until": "9999-12-31T23:59:59-01:00"}, "until"),  # after year 9999 in UTC
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-02T00:00:00Z"}, "until"),
        ({"event": "a" * 65}, "event"),
        ({"event": "login; drop"}, "event"),
        ({"event_prefix": "secret_key.*"}, "event_prefix"),
        ({"outcome": "denied%"}, "outcome"),
        ({"actor_user_id": "nobody"}, "actor_user_id"),
        ({"credential_type": "api key"}, "credential_type"),
        ({"correlation_id": "x" * 129}, "correlation_id"),
        ({"correlation_id": "a b"}, "correlation_id"),
        ({"outcom": "denied"}, "outcom"),  # a typo is refused, never silently ignored
    ],
)
def test_invalid_values_are_422_in_the_envelope(api, reader, params, field) -> None:
    response = api.get(
        EVENTS, headers={**reader, "X-Correlation-ID": "bad-filter"}, query_string=params
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == "validation_failed"
    assert body["code"] == "VALIDATION_FAILED"
    assert body["correlation_id"] == "bad-filter"
    assert any(message.startswith(f"{field}: ") for message in body["errors"]), body


def test_a_nul_byte_is_refused_before_any_query(api, reader) -> None:
    """The gate's input check answers first (400 in the envelope): PostgreSQL text cannot hold
    NUL, so it must never reach a query."""
    response = api.get(EVENTS, headers=reader, query_string={"event": "login\x00"})
    assert response.status_code == 400
    assert response.get_json()["code"] == "BAD_REQUEST"


def test_credentials_in_the_query_string_are_refused(api, reader) -> None:
    key = reader["X-Api-Key"]
    response = api.get(EVENTS, query_string={"api_key": key})
    assert response.status_code == 400


# --- who may read -------------------------------------------------------------------------


def test_a_visitor_without_credentials_gets_401(api) -> None:
    response = api.get(EVENTS)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_member_without_audit_view_gets_403(app, api, make_user, make_key, seed) -> None:
    member = make_user(role="member")
    seed(member.family_id, "login")
    headers = {"X-Api-Key": make_key(member, scope="read")}
    response = api.get(EVENTS, headers=headers)
    assert response.status_code == 403
    assert response.get_json()["code"] == "FORBIDDEN"
    assert "events" not in response.get_json()

    # Granted live: the analyst role carries audit.view (and not audit_logs.export).
    grant_role(app, member, "analyst")
    assert api.get(EVENTS, headers=headers).status_code == 200


# Production refuses to start without every secret: the ones base_config leaves out (keys of
# features added since) get throwaway values here.
PRODUCTION = {
    "APP_ENV": "production",
    **{
        key: secrets.token_urlsafe(64)
        for key in _SECRET_KEYS
        if key not in base_config("sqlite://", Path("."))
    },
}


@pytest.mark.config(**PRODUCTION)
def test_reading_the_log_needs_no_mfa(admin, reader, seed, listed) -> None:
    """audit.view is not an admin.* permission: no MFA_REQUIRED in production for a user
    without TOTP (identity.roles.MFA_GATED)."""
    from app.identity.roles import MFA_GATED

    assert "audit.view" not in MFA_GATED
    made = seed(admin.family_id, "login")
    assert ids(listed(reader)) == [made]


def test_a_session_reads_the_log_too(app, admin, seed) -> None:
    from tests.support.web import login

    browser = app.test_client()
    assert login(browser, admin.email, admin.password).status_code == 302
    made = seed(admin.family_id, "login")
    response = browser.get(EVENTS, query_string={"until": BEFORE_SETUP})
    assert response.status_code == 200
    assert ids(response.get_json()) == [made]
