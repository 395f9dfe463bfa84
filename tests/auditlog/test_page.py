"""The /admin/audit page through the Flask test client: the browser session only (visitors
sign in, bearer credentials do not open it), audit.view (403 page otherwise), the tenant's
events only, every filter of the form, pagination that keeps the filters, export links only
when both the plan (reports.export) and the user (audit_logs.export) allow, escaped details.
Chromium drives the same page in tests/e2e/test_audit_log_page.py."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.auditlog.support import BASE, csv_rows
from tests.support.factories import grant_role
from tests.support.web import login

PAGE = "/admin/audit"
WINDOW = {"until": "2021-01-01T00:00"}  # datetime-local, as the form sends it (UTC)


def _browser(app: Flask, who) -> FlaskClient:  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert login(client, who.email, who.password).status_code == 302
    return client


def _rows(response) -> list[int]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.get_data(as_text=True)
    return [int(i) for i in re.findall(r'data-event-id="(\d+)"', response.get_data(as_text=True))]


@pytest.fixture
def browser(app: Flask, admin) -> FlaskClient:  # type: ignore[no-untyped-def]
    return _browser(app, admin)


# --- who may open it ----------------------------------------------------------------------


def test_visitors_are_sent_to_sign_in(client) -> None:
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/admin/audit")


def test_bearer_credentials_do_not_open_the_page(client, reader) -> None:
    """Pages take the session cookie only (reference §3.6), never an API key or a token."""
    response = client.get(PAGE, headers=reader)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_a_member_without_audit_view_gets_a_403_page(app: Flask, make_user) -> None:
    member = make_user(role="member")
    response = _browser(app, member).get(PAGE)
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert "Only users who may view the audit log can open it." in response.get_data(as_text=True)


def test_an_analyst_may_read_the_page(app: Flask, make_user, seed) -> None:
    analyst = make_user(role="member")
    grant_role(app, analyst, "analyst")
    made = seed(analyst.family_id, "login")
    assert _rows(_browser(app, analyst).get(PAGE, query_string=WINDOW)) == [made]


# --- what it shows ------------------------------------------------------------------------


def test_the_table_shows_the_tenants_events_newest_first(browser, admin, make_user, seed) -> None:
    other = make_user(role="admin")
    colleague = make_user(email="colleague@example.com", family_id=admin.family_id)
    older = seed(
        admin.family_id, "login", actor=colleague.id, correlation_id="req-7", channel="web"
    )
    newer = seed(
        admin.family_id,
        "tenant.denied",
        at=BASE + timedelta(minutes=1),
        outcome="denied",
        actor=other.id,  # an actor of another tenant shows as an id, never their email
        requested_tenant="x",
    )
    seed(other.family_id, "login")
    response = browser.get(PAGE, query_string=WINDOW)
    assert _rows(response) == [newer, older]
    page = response.get_data(as_text=True)
    assert "colleague@example.com" in page
    assert other.email not in page
    assert str(other.id) in page
    assert "2020-05-01 12:00:00" in page
    assert 'class="badge denied"' in page
    assert "req-7" in page and "channel" in page
    assert "Page 1 of 1 (2 events)" in page
    # Every asset from this origin (CSP: no CDN).
    assert re.findall(r'(?:src|href)="(?:https?:)?//', page) == []
    assert response.headers["Cache-Control"] == "no-store"


def test_details_are_escaped(browser, admin, seed) -> None:
    seed(admin.family_id, "login", email="<script>alert(1)</script>@x.test")
    page = browser.get(PAGE, query_string=WINDOW).get_data(as_text=True)
    assert "<script>alert(1)" not in page
    assert html.escape("<script>alert(1)</script>@x.test") in page


# --- filters ------------------------------------------------------------------------------


@pytest.fixture
def spread(admin, seed) -> dict[str, int]:
    family = admin.family_id
    return {
        "login": seed(family, "login", at=BASE, correlation_id="c-1"),
        "failed": seed(family, "login", at=BASE + timedelta(minutes=1), outcome="failure"),
        "created": seed(family, "secret_key.created", at=BASE + timedelta(minutes=2)),
        "revealed": seed(
            family, "secret_key.revealed", at=BASE + timedelta(minutes=3), correlation_id="c-1"
        ),
    }


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"event": "login"}, ["failed", "login"]),
        ({"event": " login "}, ["failed", "login"]),
        ({"event": "secret_key.*"}, ["revealed", "created"]),
        ({"outcome": "failure"}, ["failed"]),
        ({"correlation_id": "c-1"}, ["revealed", "login"]),
        ({"since": "2020-05-01T12:01", "until": "2020-05-01T12:03"}, ["created", "failed"]),
        ({"since": "2020-05-01T12:02:00"}, ["revealed", "created"]),
        ({"since": "2020-05-01T12:02:00Z", "until": "2020-05-01T12:03:00Z"}, ["created"]),
        ({"event": "", "outcome": "", "since": "", "correlation_id": ""}, None),
    ],
)
def test_the_form_filters(browser, spread, form, expected) -> None:
    wanted = (
        [spread[name] for name in expected]
        if expected is not None
        else sorted(spread.values(), reverse=True)
    )
    assert _rows(browser.get(PAGE, query_string={**WINDOW, **form})) == wanted


def test_the_form_keeps_what_was_entered(browser, spread) -> None:
    page = browser.get(
        PAGE,
        query_string={"event": "secret_key.*", "outcome": "success", "since": "2020-05-01T12:00"},
    ).get_data(as_text=True)
    assert 'value="secret_key.*"' in page
    assert '<option value="success" selected>' in page
    assert 'value="2020-05-01T12:00"' in page


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        ({"since": "soon"}, "since: "),
        ({"since": "2020-05-02T00:00", "until": "2020-05-01T00:00"}, "until: must be later"),
        ({"event": "log in"}, "event: "),
        ({"event": "*"}, "event_prefix: "),
        ({"page": "x"}, "page: "),
        ({"page": "0"}, "page: "),
    ],
)
def test_bad_filters_show_the_problem_not_an_error_page(browser, spread, form, problem) -> None:
    response = browser.get(PAGE, query_string=form)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'data-testid="filter-problems"' in page
    assert problem in html.unescape(page)
    assert "data-event-id" not in page


# --- pagination ---------------------------------------------------------------------------


def test_pages_link_to_each_other_and_keep_the_filters(browser, admin, seed) -> None:
    made = [seed(admin.family_id, "login", at=BASE + timedelta(seconds=i)) for i in range(27)]
    seed(admin.family_id, "mfa.enabled", at=BASE + timedelta(minutes=5))
    first = browser.get(PAGE, query_string={**WINDOW, "event": "login"})
    assert _rows(first) == made[::-1][:25]
    page = html.unescape(first.get_data(as_text=True))
    assert "Page 1 of 2 (27 events)" in page
    assert 'rel="prev"' not in page
    older = re.search(r'href="([^"]+)" rel="next"', page)
    assert older
    assert "event=login" in older.group(1) and "until=2021-01-01T00" in older.group(1)
    second = browser.get(older.group(1))
    assert _rows(second) == made[::-1][25:]
    assert 'rel="next"' not in second.get_data(as_text=True)
    assert 'rel="prev"' in second.get_data(as_text=True)


# --- export links -------------------------------------------------------------------------


def _export_links(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        html.unescape(link)
        for link in re.findall(
            r'href="(/api/v1/admin/audit_events/export[^"]*)"', response.get_data(as_text=True)
        )
    ]


def test_no_export_links_without_the_feature(browser) -> None:
    assert _export_links(browser.get(PAGE)) == []


def test_no_export_links_without_the_permission(app: Flask, make_user, licensed) -> None:
    analyst = make_user(role="member")
    grant_role(app, analyst, "analyst")
    licensed(analyst.family_id)
    assert _export_links(_browser(app, analyst).get(PAGE)) == []


def test_export_links_carry_the_filters_and_download(browser, admin, licensed, spread) -> None:
    licensed(admin.family_id)
    links = _export_links(
        browser.get(PAGE, query_string={**WINDOW, "event": "secret_key.*", "outcome": "success"})
    )
    assert len(links) == 2
    csv_link, ndjson_link = links
    assert "format=csv" in csv_link and "format=ndjson" in ndjson_link
    assert "event_prefix=secret_key." in csv_link and "outcome=success" in csv_link
    assert "until=2021-01-01T00:00:00Z" in csv_link
    download = browser.get(csv_link)
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert [int(row["id"]) for row in csv_rows(download)] == [
        spread["revealed"],
        spread["created"],
    ]
