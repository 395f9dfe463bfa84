"""DELETE /api/v1/users/reset, GET /api/v1/users/reset/status, DELETE /api/v1/users/me:
contract §1.2, §2.4, §6.4, §6.5 and §7.3 cases 1-14 (X-Api-Key auth, as in Sure's suite).

Sure's fixtures are mapped onto users created here: bob (admin) and jakob (member) share the
"dylan" family, user1 is the only (admin) member of the "empty" family, support is the
super_admin. The reset runs in a background thread; its progress is polled through
reset/status.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from app.clock import utcnow
from app.config import DefaultConfig
from app.firstparty.models import FamilyResetJob
from app.identity.models import User
from tests.support.config import ENCRYPTION_KEY, SECRET_KEY
from tests.support.database import ON_POSTGRES
from tests.support.factories import UserInfo
from tests.support.http import api_key, bearer, error_body, send
from tests.support.sure import (
    INVALID_CREDENTIALS,
    INVALID_REFRESH,
    LOGIN,
    ME,
    REFRESH,
    RESET,
    RESET_STATUS,
    SIGNUP,
    UNAUTHORIZED,
    device,
    login_body,
    mobile_login,
    signup_body,
    status_of,
)
from tests.support.web import login, session_csrf, signed_in_as

ROOT = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).parent / "flask")

FORBIDDEN = {"error": "forbidden", "message": "You are not authorized to perform this action"}
WRITE_SCOPE = {"error": "insufficient_scope", "message": "This action requires the 'write' scope"}
DEACTIVATED = {"error": "unauthorized", "message": "Account has been deactivated"}
ADMIN_WITH_MEMBERS = (
    "Admin cannot delete account while other users are present. Please delete all members first."
)
LAST_SUPER_ADMIN = (
    "Cannot remove the last active super admin. Promote another user to super admin first."
)
# Sure's Family::FinancialDataReset::STATUS_COUNT_KEYS (contract §2.4).
SURE_COUNT_KEYS = {
    "account_statements",
    "family_exports",
    "imports",
    "import_sessions",
    "import_source_mappings",
    "import_rows",
    "import_mappings",
    "accounts",
    "account_shares",
    "account_providers",
    "entries",
    "transactions",
    "transfers",
    "rejected_transfers",
    "valuations",
    "trades",
    "holdings",
    "balances",
    "recurring_transactions",
    "rules",
    "rule_actions",
    "rule_conditions",
    "rule_runs",
    "budgets",
    "budget_categories",
    "categories",
    "tags",
    "taggings",
    "merchants",
    "family_merchant_associations",
    "provider_items",
    "active_storage_attachments",
    "plaid_items",
}
# What Tollgate stores for a family (the resource API).
TOLLGATE_COUNT_KEYS = {"accounts", "transactions", "tags", "taggings", "valuations"}
DEACTIVATED_EMAIL = re.compile(
    r"^(?P<local>[^@]+)-deactivated-(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
    r"[0-9a-f]{12})@(?P<domain>.+)$"
)


# --- Sure's fixtures ----------------------------------------------------------------------------


@pytest.fixture
def support(make_user) -> UserInfo:
    return make_user(email="support@sure.am", role="super_admin")


@pytest.fixture
def bob(make_user, support) -> UserInfo:
    return make_user(email="bob@bobdylan.com", role="admin", first_name="Bob")


@pytest.fixture
def jakob(make_user, bob) -> UserInfo:
    return make_user(email="jakobdylan@yahoo.com", role="member", family_id=bob.family_id)


@pytest.fixture
def user1(make_user, support) -> UserInfo:
    return make_user(email="user1@example.com", role="admin")


@pytest.fixture
def seed_data(app):  # type: ignore[no-untyped-def]
    """Financial data for a family, through the resource services: 2 accounts, 3 transactions
    (one tagged twice), 2 tags, 1 valuation."""
    from app.resources import services

    def seed(family_id: uuid.UUID) -> dict[str, int]:
        now = utcnow()
        with app.app_context():
            checking = services.create_account(
                family_id=family_id,
                name="Checking",
                currency="USD",
                balance=Decimal("100"),
                now=now,
            )
            savings = services.create_account(
                family_id=family_id, name="Savings", currency="USD", balance=Decimal("0"), now=now
            )
            food = services.create_tag(family_id, {"name": "Food"}, now)
            fun = services.create_tag(family_id, {"name": "Fun"}, now)
            services.create_transaction(
                family_id,
                {
                    "account_id": checking.id,
                    "date": date(2026, 1, 2),
                    "amount": Decimal("-12.5"),
                    "name": "Lunch",
                    "tag_ids": [food.id, fun.id],
                },
                now,
            )
            services.create_transaction(
                family_id,
                {
                    "account_id": checking.id,
                    "date": date(2026, 1, 3),
                    "amount": Decimal("-3"),
                    "name": "Coffee",
                },
                now,
            )
            services.create_transaction(
                family_id,
                {
                    "account_id": savings.id,
                    "date": date(2026, 1, 4),
                    "amount": Decimal("50"),
                    "name": "Transfer in",
                },
                now,
            )
            services.create_valuation(
                family_id,
                {"account_id": savings.id, "date": date(2026, 1, 1), "amount": Decimal("10")},
                now,
            )
        return {"accounts": 2, "transactions": 3, "tags": 2, "taggings": 2, "valuations": 1}

    return seed


def wait_for_reset(client, headers: dict[str, str], timeout: float = 10.0) -> dict:  # type: ignore[no-untyped-def]
    """Poll reset/status until the family's data is gone (or fail after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(RESET_STATUS, headers=headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        job = body.get("job") or {}
        if body["reset_complete"] and job.get("status") in (None, "complete"):
            return body
        assert job.get("status") != "failed", body
        assert time.monotonic() < deadline, f"reset not complete after {timeout}s: {body}"
        time.sleep(0.05)


# --- §7.3 ---------------------------------------------------------------------------------------


def test_1_reset_without_auth_is_401(client):
    response = client.delete(RESET)
    assert (response.status_code, error_body(response)) == (401, UNAUTHORIZED)


def test_2_me_without_auth_is_401(client):
    response = client.delete(ME)
    assert (response.status_code, error_body(response)) == (401, UNAUTHORIZED)


def test_3_reset_with_a_read_only_key_is_403(client, bob, make_key, count):
    response = client.delete(RESET, headers=api_key(make_key(bob, scope="read")))

    assert (response.status_code, error_body(response)) == (403, WRITE_SCOPE)
    assert count(FamilyResetJob) == 0


def test_4_me_with_a_read_only_key_is_403(client, user1, make_key, read_user):
    response = client.delete(ME, headers=api_key(make_key(user1, scope="read")))

    assert (response.status_code, error_body(response)) == (403, WRITE_SCOPE)
    assert read_user(user1.id)["active"] is True


def test_5_reset_by_a_member_is_403(client, jakob, make_key, count):
    response = client.delete(RESET, headers=api_key(make_key(jakob)))

    assert (response.status_code, error_body(response)) == (403, FORBIDDEN)
    assert count(FamilyResetJob) == 0


def test_scope_is_checked_before_the_admin_check(client, jakob, make_key):
    response = client.delete(RESET, headers=api_key(make_key(jakob, scope="read")))
    assert (response.status_code, error_body(response)) == (403, WRITE_SCOPE)


def test_6_reset_by_an_admin_is_queued(client, bob, jakob, make_key, seed_data, count):
    seed_data(bob.family_id)
    key = api_key(make_key(bob))

    response = client.delete(RESET, headers=key)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {"message", "status", "job_id", "family_id", "status_url"}
    assert body["message"] == "Account reset has been initiated"
    assert body["status"] == "queued"
    assert body["family_id"] == str(bob.family_id)
    assert isinstance(body["job_id"], str) and uuid.UUID(body["job_id"])
    assert body["status_url"] == "/api/v1/users/reset/status"
    assert count(FamilyResetJob, FamilyResetJob.family_id == bob.family_id) == 1

    done = wait_for_reset(client, key)
    assert done["job"]["id"] == body["job_id"]
    assert done["status"] == "complete"
    # Users, keys and the family itself stay: only financial data goes.
    assert status_of(client, key) == 200
    assert count(User, User.family_id == bob.family_id) == 2


@pytest.fixture
def failing_enqueue(app):  # type: ignore[no-untyped-def]
    """Make the insert into family_reset_jobs really fail, with a database trigger whose
    message must never reach the client."""
    from app.extensions import db

    secret = "tollgate-internal-trigger-message-7f3a"
    with app.app_context():
        if ON_POSTGRES:
            db.session.execute(
                text(
                    "CREATE OR REPLACE FUNCTION fp_test_refuse_reset() RETURNS trigger "
                    f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{secret}'; END $$"
                )
            )
            db.session.execute(
                text(
                    "CREATE TRIGGER fp_test_refuse_reset BEFORE INSERT ON family_reset_jobs "
                    "FOR EACH ROW EXECUTE FUNCTION fp_test_refuse_reset()"
                )
            )
        else:
            db.session.execute(
                text(
                    "CREATE TRIGGER fp_test_refuse_reset BEFORE INSERT ON family_reset_jobs "
                    f"BEGIN SELECT RAISE(ABORT, '{secret}'); END"
                )
            )
        db.session.commit()
    yield secret
    with app.app_context():
        db.session.execute(
            text(
                "DROP TRIGGER IF EXISTS fp_test_refuse_reset"
                + (" ON family_reset_jobs" if ON_POSTGRES else "")
            )
        )
        if ON_POSTGRES:
            db.session.execute(text("DROP FUNCTION IF EXISTS fp_test_refuse_reset()"))
        db.session.commit()


def test_7_enqueue_failure_is_500_without_internals(
    client, bob, make_key, seed_data, count, failing_enqueue
):
    seed_data(bob.family_id)
    key = api_key(make_key(bob))

    response = client.delete(RESET, headers=key)

    assert response.status_code == 500
    assert error_body(response) == {
        "error": "reset_enqueue_failed",
        "message": "Account reset could not be queued",
    }
    raw = response.get_data(as_text=True)
    for leak in (failing_enqueue, "Traceback", "sqlite", "psycopg", "INSERT", "family_reset_jobs"):
        assert leak not in raw
    assert count(FamilyResetJob) == 0
    # Nothing was deleted and the status says so.
    status = client.get(RESET_STATUS, headers=key).get_json()
    assert status["status"] == "data_remaining"
    assert status["counts"]["accounts"] == 2


def test_8_reset_status_without_auth_is_401(client):
    response = client.get(RESET_STATUS)
    assert (response.status_code, error_body(response)) == (401, UNAUTHORIZED)


def test_9_reset_status_by_a_member_is_403(client, jakob, make_key):
    response = client.get(RESET_STATUS, headers=api_key(make_key(jakob, scope="read")))
    assert (response.status_code, error_body(response)) == (403, FORBIDDEN)


def test_10_reset_status_by_an_admin_with_a_read_only_key(client, bob, make_key, seed_data):
    seeded = seed_data(bob.family_id)

    response = client.get(RESET_STATUS, headers=api_key(make_key(bob, scope="read")))

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["family_id"] == str(bob.family_id)
    assert body["status"] in ("complete", "data_remaining")
    counts = body["counts"]
    assert all(isinstance(v, int) for v in counts.values())
    assert body["reset_complete"] is (not any(counts.values()))
    assert body["status"] == ("complete" if body["reset_complete"] else "data_remaining")
    # Every count is one of Sure's keys, and every kind of data Tollgate keeps is counted.
    assert TOLLGATE_COUNT_KEYS <= set(counts) <= SURE_COUNT_KEYS
    assert "syncs" not in counts
    assert {k: counts[k] for k in seeded} == seeded
    assert body["status"] == "data_remaining"
    assert body["reset_complete"] is False


def test_10_counts_are_per_family(client, bob, user1, make_key, seed_data):
    seed_data(user1.family_id)

    body = client.get(RESET_STATUS, headers=api_key(make_key(bob, scope="read"))).get_json()

    assert body["status"] == "complete"
    assert body["reset_complete"] is True
    assert not any(body["counts"].values())


def test_11_completed_reset_plus_a_new_sync_is_complete(client, bob, user1, make_key, seed_data):
    seed_data(bob.family_id)
    seed_data(user1.family_id)  # another family's data is untouched
    key = api_key(make_key(bob))
    assert client.delete(RESET, headers=key).status_code == 200
    wait_for_reset(client, key)

    assert client.post("/api/v1/sync", headers=key).status_code in (200, 201)

    body = client.get(RESET_STATUS, headers=key).get_json()
    assert body["status"] == "complete"
    assert body["reset_complete"] is True
    assert "syncs" not in body["counts"]
    other = client.get(RESET_STATUS, headers=api_key(make_key(user1, scope="read"))).get_json()
    assert other["counts"]["accounts"] == 2
    assert other["counts"]["transactions"] == 3


def test_12_sole_admin_deletes_their_account(client, user1, make_key, read_user):
    response = client.delete(ME, headers=api_key(make_key(user1)))

    assert response.status_code == 200
    assert response.get_json() == {"message": "Account has been deleted"}
    after = read_user(user1.id)
    assert after["active"] is False
    assert after["email"] != "user1@example.com"
    match = DEACTIVATED_EMAIL.match(after["email"])
    assert match, after["email"]
    assert (match["local"], match["domain"]) == ("user1", "example.com")


def test_13_admin_with_other_members_cannot_delete(client, bob, jakob, make_key, read_user):
    key = api_key(make_key(bob))

    response = client.delete(ME, headers=key)

    assert response.status_code == 422
    assert response.get_json() == {
        "error": "Failed to delete account",
        "details": [ADMIN_WITH_MEMBERS],
    }
    after = read_user(bob.id)
    assert (after["active"], after["email"]) == (True, "bob@bobdylan.com")
    assert status_of(client, key) == 200  # nothing was revoked


def test_14_deactivated_user_calling_reset_is_401(client, bob, make_key, set_user, count):
    key = api_key(make_key(bob))
    set_user(bob.id, active=False)

    response = client.delete(RESET, headers=key)

    assert (response.status_code, error_body(response)) == (401, DEACTIVATED)
    assert count(FamilyResetJob) == 0


# --- deactivation rules (§6.5) ------------------------------------------------------------------


def test_the_last_active_super_admin_cannot_delete(client, support, make_key, read_user):
    response = client.delete(ME, headers=api_key(make_key(support)))

    assert response.status_code == 422
    assert response.get_json() == {
        "error": "Failed to delete account",
        "details": [LAST_SUPER_ADMIN],
    }
    assert read_user(support.id)["active"] is True


def test_an_inactive_second_super_admin_does_not_count(
    client, support, make_user, make_key, set_user
):
    other = make_user(email="other-root@example.com", role="super_admin")
    set_user(other.id, active=False)

    response = client.delete(ME, headers=api_key(make_key(support)))

    assert response.get_json()["details"] == [LAST_SUPER_ADMIN]


def test_a_super_admin_may_go_when_another_is_active(
    client, support, make_user, make_key, read_user
):
    make_user(email="other-root@example.com", role="super_admin")

    response = client.delete(ME, headers=api_key(make_key(support)))

    assert response.status_code == 200
    assert read_user(support.id)["active"] is False


def test_both_rules_are_reported_together(client, support, make_user, make_key):
    make_user(email="member@sure.am", family_id=support.family_id)

    response = client.delete(ME, headers=api_key(make_key(support)))

    assert response.status_code == 422
    assert response.get_json()["details"] == [ADMIN_WITH_MEMBERS, LAST_SUPER_ADMIN]


def test_a_member_may_delete_their_account(client, bob, jakob, make_key, read_user):
    response = client.delete(ME, headers=api_key(make_key(jakob)))

    assert response.status_code == 200
    assert read_user(jakob.id)["active"] is False
    # Now bob is alone and may go too.
    assert client.delete(ME, headers=api_key(make_key(bob))).status_code == 200


def test_deactivation_revokes_every_credential_at_once(app, client, user1, make_key, read_user):
    # An OAuth lineage from the mobile login, a second device, an API key, a browser session.
    phone = mobile_login(client, user1.email)
    tablet = mobile_login(client, user1.email, device_info=device(device_id="tablet"))
    read_key = make_key(user1, scope="read", source="monitoring")
    browser = app.test_client()
    assert login(browser, user1.email).status_code == 302
    assert signed_in_as(browser)

    response = client.delete(ME, headers=bearer(phone["access_token"]))
    assert response.status_code == 200, response.get_json()

    for headers in (
        bearer(phone["access_token"]),
        bearer(tablet["access_token"]),
        api_key(read_key),
    ):
        refused = client.get("/api/v1/accounts", headers=headers)
        assert refused.status_code == 401
        assert refused.get_json()["error"] == "unauthorized"
        assert refused.get_json()["message"] in (
            "Account has been deactivated",
            "Access token is invalid, expired, or missing required scope",
            "Access token or API key is invalid, expired, or missing",
        )
    for token in (phone["refresh_token"], tablet["refresh_token"]):
        assert send(client, REFRESH, {"refresh_token": token}).get_json() == INVALID_REFRESH
    # The browser is signed out: the API refuses it and pages send it to the sign-in page.
    assert not signed_in_as(browser)
    page = browser.get("/account/security")
    assert page.status_code == 302 and "/login" in page.headers["Location"]

    # The email was rewritten, so the old one neither signs in nor is taken any more.
    email = read_user(user1.id)["email"]
    match = DEACTIVATED_EMAIL.match(email)
    assert match and (match["local"], match["domain"]) == ("user1", "example.com")
    again = send(client, LOGIN, login_body("user1@example.com"))
    assert (again.status_code, again.get_json()) == (401, INVALID_CREDENTIALS)
    assert send(client, SIGNUP, signup_body("user1@example.com")).status_code == 201


def test_reactivating_does_not_bring_credentials_back(client, user1, make_key, set_user):
    """Revocation is real, not a side effect of the inactive flag."""
    phone = mobile_login(client, user1.email)
    key = make_key(user1, source="mobile")
    assert client.delete(ME, headers=api_key(key)).status_code == 200

    set_user(user1.id, active=True)

    assert status_of(client, bearer(phone["access_token"])) == 401
    assert status_of(client, api_key(key)) == 401
    assert send(client, REFRESH, {"refresh_token": phone["refresh_token"]}).status_code == 401


def test_deactivation_from_a_browser_session_needs_the_csrf_token(app, user1, read_user):
    browser = app.test_client()
    assert login(browser, user1.email).status_code == 302
    csrf = session_csrf(browser)

    refused = browser.delete(ME)
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "invalid_csrf_token"
    assert read_user(user1.id)["active"] is True

    accepted = browser.delete(ME, headers={"X-CSRFToken": csrf})
    assert accepted.status_code == 200
    assert not signed_in_as(browser)


def test_a_deactivated_users_other_family_members_keep_their_credentials(
    client, bob, jakob, make_key
):
    bob_key = make_key(bob)
    assert client.delete(ME, headers=api_key(make_key(jakob))).status_code == 200
    assert status_of(client, api_key(bob_key)) == 200


# --- the queue is honest ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.config(RESET_RUNNER="none")
def test_queued_means_queued_until_a_worker_runs_it(
    app, client, bob, make_key, seed_data, tmp_path
):
    seed_data(bob.family_id)
    key = api_key(make_key(bob))

    queued = client.delete(RESET, headers=key).get_json()
    assert queued["status"] == "queued"
    time.sleep(0.3)
    status = client.get(RESET_STATUS, headers=key).get_json()
    assert status["status"] == "data_remaining"
    assert status["job"]["id"] == queued["job_id"]
    assert status["job"]["status"] == "queued"

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in vars(DefaultConfig) and k not in ("DATABASE_URL", "FLASK_APP")
    }
    env.update(
        {
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "INSTANCE_PATH": str(tmp_path),
            "SECRET_KEY": SECRET_KEY,
            "ENCRYPTION_KEYS": ENCRYPTION_KEY,
            "SECRET_KEY_JWT_KEY": "sk-jwt-" + "k" * 64,
            "ACCESS_KEY_JWT_KEY": "ak-jwt-" + "a" * 32,
            "AUTO_MIGRATE": "false",
            "APP_ENV": "testing",
            "REDIS_URL": "",
            "RESET_RUNNER": "none",
        }
    )
    done = subprocess.run(
        [FLASK, "--app", "wsgi", "jobs", "work"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"reset_jobs_run": 1, "users_purged": 0}

    finished = client.get(RESET_STATUS, headers=key).get_json()
    assert finished["status"] == "complete"
    assert finished["reset_complete"] is True
    assert finished["job"]["status"] == "complete"
    assert finished["job"]["deleted"]["accounts"] == 2
