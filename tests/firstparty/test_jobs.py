"""Background work run by ``flask --app wsgi jobs work``: the purge of deactivated users
(Sure §2.4: deactivation is followed by a job that deletes the user, or the whole family if
it was the last member) and the family-reset audit trail."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.clock import utcnow
from tests.support.database import ON_POSTGRES
from tests.support.factories import UserInfo, enable_mfa
from tests.support.http import api_key, bearer
from tests.support.oauth import authorize, exchange_code
from tests.support.sure import ME, RESET, mobile_login, status_of
from tests.support.web import login

pytestmark = pytest.mark.config(RESET_RUNNER="none")


@pytest.fixture
def admin(make_user) -> UserInfo:
    make_user(email="root@example.com", role="super_admin")  # so admins may leave
    return make_user(email="bob@example.com", role="admin")


@pytest.fixture
def member(make_user, admin) -> UserInfo:
    return make_user(email="jakob@example.com", role="member", family_id=admin.family_id)


def jobs_work(app) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    result = app.test_cli_runner().invoke(args=["jobs", "work"])
    assert result.exit_code == 0, result.output
    import json

    return json.loads(result.output)


def audit(app, event: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    from app.audit.models import AuditEvent
    from app.extensions import db

    with app.app_context():
        return [
            {
                "outcome": e.outcome,
                "actor_user_id": e.actor_user_id,
                "family_id": e.family_id,
                **e.details,
            }
            for e in db.session.scalars(
                select(AuditEvent).where(AuditEvent.event == event).order_by(AuditEvent.id)
            )
        ]


def rows_of(app, user_id: uuid.UUID, family_id: uuid.UUID) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """How many rows still point at the user (or, for resources, the family)."""
    from app.extensions import db

    by_user = {
        "users": "id",
        "api_keys": "user_id",
        "oauth2_tokens": "user_id",
        "oauth2_authorization_codes": "user_id",
        "mobile_devices": "user_id",
        "otp_backup_codes": "user_id",
        "web_sessions": "user_id",
        "invite_codes": "used_by_user_id",
        "family_reset_jobs": "requested_by",
    }
    by_family = {"families": "id", "accounts": "family_id", "tags": "family_id"}
    tables = db.metadata.tables
    with app.app_context():
        counts = {}
        for wanted, columns in ((user_id, by_user), (family_id, by_family)):
            for name, column in columns.items():
                counts[name] = db.session.scalar(
                    select(func.count())
                    .select_from(tables[name])
                    .where(tables[name].c[column] == wanted)
                )
        return counts


@pytest.fixture
def busy(app, client, make_key, make_invites, oauth_client):  # type: ignore[no-untyped-def]
    """Give a user one row of every kind that points at them: device tokens (two devices),
    an authorization code and its tokens, an API key, a browser session, backup codes, a
    claimed invite code; and their family an account and a tag."""
    from app.crypto import digest
    from app.extensions import db
    from app.identity.models import InviteCode
    from app.resources import services as resources

    def make(who: UserInfo) -> dict[str, Any]:
        phone = mobile_login(client, who.email)
        mobile_login(
            client,
            who.email,
            device_info={
                "device_id": "tablet",
                "device_name": "Tab",
                "device_type": "android",
                "os_version": "14",
                "app_version": "1.0.0",
            },
        )
        browser = app.test_client()
        assert login(browser, who.email).status_code == 302
        code = authorize(browser, oauth_client, scope="read")
        assert exchange_code(browser, oauth_client, code).status_code == 200
        authorize(browser, oauth_client, scope="read")  # an unredeemed code too
        key = make_key(who)
        enable_mfa(app, who)
        (invite,) = make_invites(1)
        with app.app_context():
            db.session.execute(
                InviteCode.__table__.update()
                .where(InviteCode.code_digest == digest(invite))
                .values(used_at=utcnow(), used_by_user_id=who.id)
            )
            account = resources.create_account(
                family_id=who.family_id, name="Checking", currency="USD", balance=0, now=utcnow()
            )
            resources.create_tag(who.family_id, {"name": f"tag-{who.email}"}, utcnow())
            db.session.commit()
        return {"phone": phone, "key": key, "account": account.id}

    return make


def test_reset_audit_events_carry_the_real_job_id(app, client, admin, make_key):
    response = client.delete(RESET, headers=api_key(make_key(admin)))
    assert response.status_code == 200
    job_id = response.get_json()["job_id"]
    (queued,) = audit(app, "family.reset_queued")
    assert queued["job_id"] == job_id  # was "None": the id was read before the insert

    assert jobs_work(app)["reset_jobs_run"] == 1
    (done,) = audit(app, "family.reset")
    assert done["job_id"] == job_id


def test_jobs_work_purges_a_deactivated_member_and_keeps_the_family(
    app, client, admin, member, busy, make_key
):
    busy(member)
    admin_key = make_key(admin)
    before = rows_of(app, member.id, member.family_id)
    # (members cannot reset their family, so no reset job points at them)
    assert all(n >= 1 for name, n in before.items() if name != "family_reset_jobs"), before

    assert client.delete(ME, headers=api_key(make_key(member, source="mobile"))).status_code == 200
    assert jobs_work(app) == {"reset_jobs_run": 0, "users_purged": 1}

    after = rows_of(app, member.id, member.family_id)
    assert {
        k: v for k, v in after.items() if k not in ("families", "accounts", "tags")
    } == dict.fromkeys(after.keys() - {"families", "accounts", "tags"}, 0)
    # the family, its data and its other member stay
    assert (after["families"], after["accounts"], after["tags"]) == (1, 1, 1)
    assert status_of(client, api_key(admin_key)) == 200
    (purged,) = audit(app, "user.purged")
    assert purged["outcome"] == "success"
    assert purged["actor_user_id"] == member.id
    assert purged["family_id"] == member.family_id
    assert purged["family_deleted"] is False
    # earlier audit events of the user are kept (the log is append-only)
    assert any(e["actor_user_id"] == member.id for e in audit(app, "user.deactivated"))
    # a second run has nothing left to do
    assert jobs_work(app) == {"reset_jobs_run": 0, "users_purged": 0}


def test_the_last_member_takes_the_family_with_them(app, client, make_user, busy, make_key):
    make_user(email="root@example.com", role="super_admin")
    alone = make_user(email="alone@example.com", role="admin")
    stuff = busy(alone)
    key = api_key(make_key(alone, source="monitoring"))
    assert client.delete(RESET, headers=key).status_code == 200  # a reset job of the family
    assert client.delete(ME, headers=key).status_code == 200

    assert jobs_work(app)["users_purged"] == 1

    assert set(rows_of(app, alone.id, alone.family_id).values()) == {0}
    from app.extensions import db
    from app.firstparty.models import FamilyResetJob

    with app.app_context():
        assert (
            db.session.scalar(
                select(FamilyResetJob.id).where(FamilyResetJob.family_id == alone.family_id)
            )
            is None
        )
    (purged,) = audit(app, "user.purged")
    assert purged["family_deleted"] is True
    assert status_of(client, bearer(stuff["phone"]["access_token"])) == 401


def test_members_leaving_one_after_the_other_end_the_family(app, client, admin, member, make_key):
    assert client.delete(ME, headers=api_key(make_key(member))).status_code == 200
    assert client.delete(ME, headers=api_key(make_key(admin))).status_code == 200

    assert jobs_work(app)["users_purged"] == 2
    assert rows_of(app, admin.id, admin.family_id)["families"] == 0
    assert [e["family_deleted"] for e in audit(app, "user.purged")] == [False, True]


@pytest.mark.config(DEACTIVATED_USER_PURGE_AFTER=3600)
def test_a_grace_period_delays_the_purge(app, client, admin, member, make_key):
    from app.firstparty import purge

    assert client.delete(ME, headers=api_key(make_key(member))).status_code == 200
    assert jobs_work(app)["users_purged"] == 0
    assert rows_of(app, member.id, member.family_id)["users"] == 1
    with app.app_context():
        assert purge.purge_deactivated_users(now=utcnow() + timedelta(minutes=59)) == 0
        assert purge.purge_deactivated_users(now=utcnow() + timedelta(minutes=61)) == 1
    assert rows_of(app, member.id, member.family_id)["users"] == 0


def test_active_and_reactivated_users_are_never_purged(
    app, client, admin, member, make_key, set_user
):
    assert client.delete(ME, headers=api_key(make_key(member))).status_code == 200
    set_user(member.id, active=True)  # an operator brought the account back
    assert jobs_work(app)["users_purged"] == 0
    assert rows_of(app, member.id, member.family_id)["users"] == 1
    assert rows_of(app, admin.id, admin.family_id)["users"] == 1


def test_a_leaving_admins_reset_jobs_stay_with_the_surviving_family(
    app, client, admin, member, make_key, set_user
):
    key = api_key(make_key(admin))
    job_id = client.delete(RESET, headers=key).get_json()["job_id"]
    assert client.delete(ME, headers=api_key(make_key(member))).status_code == 200
    assert client.delete(ME, headers=key).status_code == 200
    set_user(member.id, active=True)  # the member came back before the purge

    with app.app_context():
        from app.firstparty import purge

        # only the admin is due (the member is active again)
        assert purge.purge_deactivated_users(now=utcnow()) == 1
    from app.extensions import db
    from app.firstparty.models import FamilyResetJob

    with app.app_context():
        job = db.session.get(FamilyResetJob, uuid.UUID(job_id))
        assert job is not None and job.requested_by is None
        assert job.family_id == admin.family_id


@pytest.fixture
def refuse_deleting(app):  # type: ignore[no-untyped-def]
    """A trigger that makes deleting the users whose email starts with ``doomed`` fail, the
    way a real failure would, half-way through a purge."""
    from app.extensions import db

    with app.app_context():
        if ON_POSTGRES:
            db.session.execute(
                text(
                    "CREATE OR REPLACE FUNCTION purge_test_refuse() RETURNS trigger "
                    "LANGUAGE plpgsql AS $$ BEGIN IF OLD.email LIKE 'doomed%' THEN "
                    "RAISE EXCEPTION 'refused'; END IF; RETURN OLD; END $$"
                )
            )
            db.session.execute(
                text(
                    "CREATE TRIGGER purge_test_refuse BEFORE DELETE ON users "
                    "FOR EACH ROW EXECUTE FUNCTION purge_test_refuse()"
                )
            )
        else:
            db.session.execute(
                text(
                    "CREATE TRIGGER purge_test_refuse BEFORE DELETE ON users "
                    "WHEN OLD.email LIKE 'doomed%' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
        db.session.commit()
    yield
    with app.app_context():
        db.session.execute(
            text("DROP TRIGGER IF EXISTS purge_test_refuse" + (" ON users" if ON_POSTGRES else ""))
        )
        if ON_POSTGRES:
            db.session.execute(text("DROP FUNCTION IF EXISTS purge_test_refuse()"))
        db.session.commit()


def test_a_failed_purge_rolls_back_that_user_only(
    app, client, make_user, make_key, busy, refuse_deleting
):
    make_user(email="root@example.com", role="super_admin")
    doomed = make_user(email="doomed@example.com", role="admin")
    fine = make_user(email="fine@example.com", role="admin")
    busy(doomed)
    for who in (doomed, fine):
        assert client.delete(ME, headers=api_key(make_key(who, source="mobile"))).status_code == 200
    before = rows_of(app, doomed.id, doomed.family_id)

    assert jobs_work(app)["users_purged"] == 1

    assert rows_of(app, doomed.id, doomed.family_id) == before  # nothing of it was deleted
    assert rows_of(app, fine.id, fine.family_id)["users"] == 0
    outcomes = {(e["actor_user_id"], e["outcome"]) for e in audit(app, "user.purged")}
    assert outcomes == {(doomed.id, "failure"), (fine.id, "success")}


def test_every_reference_to_users_and_families_is_handled_by_the_purge(app):
    """A new table pointing at users or families must say what a purge does with it."""
    from app.extensions import db
    from app.firstparty import purge

    handled = {(c.table.name, c.name) for c in purge.HANDLED_REFERENCES}
    found = {
        (table.name, fk.parent.name)
        for table in db.metadata.tables.values()
        for fk in table.foreign_keys
        if fk.column.table.name in ("users", "families")
    }
    assert found == handled


@pytest.mark.postgres
@pytest.mark.skipif(
    not ON_POSTGRES,
    reason="concurrency proofs need PostgreSQL: set "
    "TEST_DATABASE_URL (SQLite serialises every writer anyway)",
)
def test_two_workers_purging_a_familys_last_two_members_delete_the_family(
    app, client, admin, member, make_key, count
):
    """Each worker locks the family before counting who is left, so the second sees the
    first's deletion: never both "someone else stays", never an empty family left behind."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from app.extensions import db
    from app.firstparty import purge
    from app.identity.models import Family, User

    for who in (member, admin):
        assert client.delete(ME, headers=api_key(make_key(who))).status_code == 200
    barrier = threading.Barrier(2)

    def one(user_id: uuid.UUID) -> bool:
        with app.app_context():
            barrier.wait()
            try:
                return purge.purge_user(user_id, cutoff=utcnow(), now=utcnow())
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(one, (member.id, admin.id)))

    assert results == [True, True]
    assert count(User, User.family_id == admin.family_id) == 0
    assert count(Family, Family.id == admin.family_id) == 0
    assert sorted(e["family_deleted"] for e in audit(app, "user.purged")) == [False, True]
