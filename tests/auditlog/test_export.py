"""GET /api/v1/admin/audit_events/export: audit_logs.export and the tenant's reports.export
feature (403 FEATURE_DISABLED without it), CSV and NDJSON bodies that match the list, CSV
injection-safe cells, streamed in keyset batches, attachment + no-store, and the export's own
audit_log.exported row (which the export itself does not contain)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import event

from tests.auditlog.support import BASE, BEFORE_SETUP, EVENTS, EXPORT, csv_rows, ids, ndjson_events
from tests.support.factories import grant_role


@pytest.fixture
def exporter(admin, reader, licensed) -> dict[str, str]:
    """The admin's read key, in a tenant whose plan includes reports.export."""
    licensed(admin.family_id)
    return reader


def _exported_rows(api, headers) -> list[dict]:  # type: ignore[type-arg]
    body = api.get(
        EVENTS, headers=headers, query_string={"event": "audit_log.exported", "until": ""}
    ).get_json()
    return body["events"]


# --- who may export ------------------------------------------------------------------------


def test_without_the_feature_the_export_is_403_feature_disabled(api, admin, reader) -> None:
    response = api.get(EXPORT, headers=reader, query_string={"format": "csv"})
    assert response.status_code == 403
    body = response.get_json()
    assert body["code"] == "FEATURE_DISABLED"
    assert body["error"] == "feature_disabled"
    assert _exported_rows(api, reader) == []  # a refused export is not an export


def test_the_feature_of_another_tenant_does_not_count(
    api, admin, reader, make_user, licensed
) -> None:
    other = make_user(role="admin")
    licensed(other.family_id)
    assert api.get(EXPORT, headers=reader).get_json()["code"] == "FEATURE_DISABLED"


@pytest.mark.parametrize("granted", [None, "analyst"])
def test_exporting_needs_audit_logs_export(
    app: Flask, api, make_user, make_key, licensed, granted
) -> None:
    """A member has neither permission; an analyst reads the log (audit.view) but may not
    export it."""
    member = make_user(role="member")
    licensed(member.family_id)
    if granted:
        grant_role(app, member, granted)
    headers = {"X-Api-Key": make_key(member, scope="read")}
    response = api.get(EXPORT, headers=headers)
    assert response.status_code == 403
    assert response.get_json()["code"] == "FORBIDDEN"
    assert (api.get(EVENTS, headers=headers).status_code == 200) is (granted == "analyst")


def test_a_visitor_gets_401(api) -> None:
    assert api.get(EXPORT).status_code == 401


# --- the formats --------------------------------------------------------------------------


@pytest.fixture
def logged(admin, seed) -> list[int]:
    """Four events of the admin's tenant, oldest first, two at the same instant."""
    family = admin.family_id
    return [
        seed(family, "login", at=BASE, actor=admin.id, correlation_id="c-1", channel="web"),
        seed(family, "api_key.created", at=BASE + timedelta(minutes=1), client_id="app-1"),
        seed(family, "api_key.revoked", at=BASE + timedelta(minutes=1), reason="rotated"),
        seed(family, "login", at=BASE + timedelta(minutes=2), outcome="failure", ip="2001:db8::1"),
    ]


def test_csv_holds_the_filtered_events_newest_first(api, admin, exporter, logged) -> None:
    response = api.get(
        EXPORT, headers=exporter, query_string={"format": "csv", "until": BEFORE_SETUP}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    assert response.mimetype_params.get("charset") == "utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="audit-events-')
    assert disposition.endswith('.csv"')
    assert response.headers["Cache-Control"] == "no-store"
    rows = csv_rows(response)
    assert [int(row["id"]) for row in rows] == logged[::-1]
    assert rows[-1] == {
        "id": str(logged[0]),
        "occurred_at": "2020-05-01T12:00:00Z",
        "event": "login",
        "outcome": "success",
        "actor_user_id": str(admin.id),
        "ip": "192.0.2.10",
        "correlation_id": "c-1",
        "client_id": "",
        "details": '{"channel":"web"}',
    }
    assert rows[0]["ip"] == "2001:db8::1"
    assert rows[2]["client_id"] == "app-1"

    login_only = api.get(
        EXPORT, headers=exporter, query_string={"event": "login", "until": BEFORE_SETUP}
    )
    assert [int(row["id"]) for row in csv_rows(login_only)] == [logged[3], logged[0]]


def test_csv_is_the_default_format(api, exporter, logged) -> None:
    response = api.get(EXPORT, headers=exporter, query_string={"until": BEFORE_SETUP})
    assert response.mimetype == "text/csv"
    assert len(csv_rows(response)) == 4


def test_ndjson_lines_are_the_lists_events(api, exporter, logged) -> None:
    window = {"until": BEFORE_SETUP, "event_prefix": "api_key."}
    response = api.get(EXPORT, headers=exporter, query_string={**window, "format": "ndjson"})
    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    assert response.headers["Content-Disposition"].endswith('.ndjson"')
    assert response.headers["Cache-Control"] == "no-store"
    listed = api.get(EVENTS, headers=exporter, query_string=window).get_json()["events"]
    assert ndjson_events(response) == listed
    assert [event["id"] for event in listed] == [logged[2], logged[1]]


def test_an_export_of_nothing_is_a_header_or_an_empty_body(api, exporter) -> None:
    window = {"until": BEFORE_SETUP}
    csv_response = api.get(EXPORT, headers=exporter, query_string=window)
    assert csv_rows(csv_response) == []
    ndjson = api.get(EXPORT, headers=exporter, query_string={**window, "format": "ndjson"})
    assert ndjson.get_data() == b""


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted_as_text(
    api, admin, exporter, seed
) -> None:
    """OWASP CSV injection: = + - @ (and a leading tab or carriage return) get a leading '.
    A correlation id may start with '-'; a client id is whatever a client was named."""
    family = admin.family_id
    seed(family, "login", correlation_id="-2.3", client_id="=HYPERLINK(evil)")
    seed(family, "login", at=BASE + timedelta(seconds=1), client_id="+cmd", correlation_id="ok")
    seed(family, "login", at=BASE + timedelta(seconds=2), client_id="@SUM(1)", ip="\t=1")
    seed(family, "login", at=BASE + timedelta(seconds=3), client_id="\r=1", email="=1+1@x.test")
    rows = csv_rows(api.get(EXPORT, headers=exporter, query_string={"until": BEFORE_SETUP}))
    by_cell = [(row["client_id"], row["correlation_id"], row["ip"]) for row in rows[::-1]]
    assert by_cell == [
        ("'=HYPERLINK(evil)", "'-2.3", "192.0.2.10"),
        ("'+cmd", "ok", "192.0.2.10"),
        ("'@SUM(1)", "", "'\t=1"),
        ("'\r=1", "", "192.0.2.10"),
    ]
    # Details are one JSON object per cell: they start with "{" and keep their values intact.
    assert json.loads(rows[0]["details"]) == {"email": "=1+1@x.test"}
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"format": "xlsx"}, "format"),
        ({"format": "CSV"}, "format"),
        ({"page": "2"}, "page"),  # an export has no pages
        ({"since": "not a time"}, "since"),
        ({"outcome": "=1"}, "outcome"),
    ],
)
def test_invalid_export_parameters_are_422(api, exporter, params, field) -> None:
    response = api.get(EXPORT, headers=exporter, query_string=params)
    assert response.status_code == 422
    assert response.get_json()["code"] == "VALIDATION_FAILED"
    assert any(message.startswith(f"{field}: ") for message in response.get_json()["errors"])
    assert _exported_rows(api, exporter) == []


# --- streaming in batches -----------------------------------------------------------------


@pytest.mark.config(AUDIT_LOG_EXPORT_BATCH_SIZE=2)
def test_the_export_streams_in_keyset_batches(app: Flask, api, admin, exporter, seed) -> None:
    """Seven events (three at one instant) in batches of two: four batch queries, the same
    order as the list's (id breaks ties), none lost or repeated at a batch boundary."""
    family = admin.family_id
    # Seeded out of time order, so the id tie-break and the time order disagree somewhere.
    offsets = [1, 1, 0, 0, 2, 1, 0]
    made = [seed(family, "login", at=BASE + timedelta(seconds=s)) for s in offsets]
    newest_first = [made_id for _, made_id in sorted(zip(offsets, made), reverse=True)]
    queries: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "FROM audit_events" in statement and "LIMIT" in statement:
            queries.append(statement)

    from app.extensions import db

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = api.get(
            EXPORT,
            headers=exporter,
            query_string={"format": "ndjson", "until": BEFORE_SETUP},
            buffered=False,
        )
        assert response.is_streamed
        assert len(queries) == 1  # the first batch is read before the response starts
        exported = [event["id"] for event in ndjson_events(response)]
    finally:
        event.remove(engine, "before_cursor_execute", count)
    listed = api.get(
        EVENTS, headers=exporter, query_string={"until": BEFORE_SETUP, "per_page": 100}
    ).get_json()
    assert exported == ids(listed) == newest_first
    assert len(queries) == 4  # 2 + 2 + 2 + 1 rows; a short batch ends the stream
    # Keyset, not OFFSET: every batch after the first starts below the previous one's last row.
    assert [" AND audit_events.id < " in query for query in queries] == [False, True, True, True]


# --- the export is audited ----------------------------------------------------------------


def test_an_export_records_audit_log_exported_and_leaves_it_out(
    api, admin, exporter, logged
) -> None:
    response = api.get(
        EXPORT,
        headers={**exporter, "X-Correlation-ID": "export-1"},
        query_string={"format": "ndjson", "event": "login", "since": "2020-01-01T00:00:00Z"},
    )
    assert response.status_code == 200
    exported = ndjson_events(response)
    assert [event["id"] for event in exported] == [logged[3], logged[0]]

    rows = _exported_rows(api, exporter)
    assert len(rows) == 1
    row = rows[0]
    assert row["outcome"] == "success"
    assert row["actor_user_id"] == str(admin.id)
    assert row["correlation_id"] == "export-1"
    assert row["details"]["format"] == "ndjson"
    assert row["details"]["credential_type"] == "api_key"
    assert row["details"]["filters"] == {"event": "login", "since": "2020-01-01T00:00:00Z"}
    assert row["details"]["through_event_id"] < row["id"]

    # The next export holds the first one's row, but never its own.
    again = api.get(EXPORT, headers=exporter, query_string={"format": "ndjson"})
    events = [event["event"] for event in ndjson_events(again)]
    assert events.count("audit_log.exported") == 1
    assert len(_exported_rows(api, exporter)) == 2
