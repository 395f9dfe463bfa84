"""No secret ever reaches the audit log (T30): a tenant goes through sign-ins (right and wrong
passwords), an OAuth authorization with refresh, an API key, an access key, a secret key
revealed and exchanged for a JWT (and a wrong secret), TOTP enrolment; then every value that
would let someone act (passwords, keys, tokens, codes, the session cookie) is looked for in
the list API, both exports and every audit row of the database. The events themselves are
asserted present, so the test cannot pass by recording nothing."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from sqlalchemy import select

from tests.auditlog.support import EVENTS, EXPORT
from tests.support.factories import enable_mfa, grant_role
from tests.support.oauth import authorize, exchange_code, refresh
from tests.support.secretkeys import issue, key_from, latest_link, reveal
from tests.support.web import login, session_csrf

WRONG_PASSWORD = "not the password 8c1f"
WRONG_SECRET = "5d2d8a64-0000-4000-8000-00000000beef"


def _signed_in(app: Flask, email: str, password: str):  # type: ignore[no-untyped-def]
    browser = app.test_client()
    assert login(browser, email, password).status_code == 302
    return browser


def test_no_secret_appears_in_the_log_its_api_or_its_exports(
    app: Flask, make_user, make_client, licensed
) -> None:
    admin = make_user(email="keeper@example.com", role="admin")
    colleague = make_user(email="colleague@example.com", family_id=admin.family_id)
    for role in ("global_admin", "secret_key_administrator"):
        grant_role(app, admin, role)
    licensed(admin.family_id)
    secrets: dict[str, str] = {"password": admin.password, "wrong password": WRONG_PASSWORD}

    # Sign-ins: a wrong password first (audited as a failure), then the right one.
    browser = app.test_client()
    assert login(browser, admin.email, WRONG_PASSWORD).status_code == 401
    assert login(browser, admin.email, admin.password).status_code == 302
    secrets["session cookie"] = browser.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    csrf = {"X-CSRFToken": session_csrf(browser)}

    # OAuth: code + PKCE, then a refresh (rotation).
    oauth_client = make_client()
    secrets["client secret"] = oauth_client.client_secret or ""
    auth = authorize(browser, oauth_client, scope="read_write")
    secrets["authorization code"] = auth.code
    secrets["code verifier"] = auth.verifier
    issued = exchange_code(browser, oauth_client, auth).get_json()
    secrets["access token"] = issued["access_token"]
    secrets["refresh token"] = issued["refresh_token"]
    rotated = refresh(browser, oauth_client, issued["refresh_token"]).get_json()
    secrets["rotated access token"] = rotated["access_token"]
    secrets["rotated refresh token"] = rotated["refresh_token"]

    # A personal API key and an access key, each shown once.
    created = browser.post(
        "/api/v1/api_keys", json={"name": "audit", "scope": "read"}, headers=csrf
    )
    assert created.status_code == 201, created.get_json()
    secrets["api key"] = created.get_json()["key"]
    access = browser.post(
        "/api/v1/access_keys",
        json={"name": "audit", "roles": [{"role": "global_viewer"}]},
        headers=csrf,
    )
    assert access.status_code == 201, access.get_json()
    secrets["access key"] = access.get_json()["token"]

    # A secret key: added, its link mailed, revealed by its user, exchanged for a JWT.
    added = browser.post(f"/api/v1/admin/users/{colleague.id}/secret_key", headers=csrf)
    assert added.status_code == 201, added.get_json()
    link = latest_link(app, colleague.email)
    secrets["reveal link token"] = link.rsplit("/", 1)[1]
    secrets["secret key"] = key_from(
        reveal(_signed_in(app, colleague.email, colleague.password), link)
    )
    token_client = app.test_client()
    jwt = issue(token_client, colleague.email, secrets["secret key"])
    assert jwt.status_code == 200, jwt.get_data(as_text=True)
    secrets["secret-key JWT"] = jwt.get_data(as_text=True)
    assert issue(token_client, colleague.email, WRONG_SECRET).status_code == 401
    secrets["wrong secret"] = WRONG_SECRET

    # TOTP: the shared secret and the backup codes.
    mfa = enable_mfa(app, colleague)
    secrets["totp secret"] = mfa.secret
    for number, code in enumerate(mfa.backup_codes):
        secrets[f"backup code {number}"] = code

    assert all(len(value) >= 8 for value in secrets.values()), secrets

    # What a reader gets: the list (every page), the CSV and the NDJSON exports.
    reader = {"X-Api-Key": secrets["api key"]}
    listed = browser.get(EVENTS, query_string={"per_page": 100}).get_json()
    assert listed["pagination"]["total_pages"] == 1
    csv_text = browser.get(EXPORT, query_string={"format": "csv"}).get_data(as_text=True)
    ndjson = browser.get(EXPORT, query_string={"format": "ndjson"}).get_data(as_text=True)
    keyed = app.test_client().get(EVENTS, headers=reader, query_string={"per_page": 100})
    assert keyed.status_code == 200

    recorded = {(e["event"], e["outcome"]) for e in listed["events"]}
    assert {
        ("login", "success"),
        ("login", "failure"),
        ("consent.granted", "success"),
        ("token.issued", "success"),
        ("token.rotated", "success"),
        ("api_key.created", "success"),
        ("access_key.created", "success"),
        ("secret_key.created", "success"),
        ("secret_key.reveal_link_sent", "success"),
        ("secret_key.revealed", "success"),
        ("secret_key.token_issued", "success"),
        ("secret_key.token_issued", "failure"),
        ("mfa.enabled", "success"),
    } <= recorded, sorted(recorded)
    assert "audit_log.exported" in ndjson  # the CSV export's row, in the NDJSON export

    outputs = {
        "list": json.dumps(listed),
        "list (API key)": keyed.get_data(as_text=True),
        "csv": csv_text,
        "ndjson": ndjson,
        "database": json.dumps(_every_audit_row(app), default=str),
    }
    leaks = [
        f"{what} in {where}"
        for where, text in outputs.items()
        for what, value in secrets.items()
        if value in text
    ]
    assert leaks == []


def _every_audit_row(app: Flask) -> list[dict[str, Any]]:
    """Every audit row of every tenant (and of none), as stored."""
    from app.audit.models import AuditEvent
    from app.extensions import db

    with app.app_context():
        rows = db.session.execute(select(AuditEvent.__table__)).mappings().all()
        return [dict(row) for row in rows]
