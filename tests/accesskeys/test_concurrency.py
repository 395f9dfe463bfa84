"""Races on PostgreSQL: the name stays unique when many admins add the same name at once (the
partial unique index decides, the losers get 409 ``name_taken``), and concurrent role edits
of one key leave exactly one complete role set (the key row is locked)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from app.clock import utcnow
from tests.support.database import requires_postgres
from tests.support.factories import UserInfo
from tests.support.races import race

pytestmark = requires_postgres


def test_concurrent_additions_of_one_name_leave_one_key(app: Flask, admin: UserInfo) -> None:
    from app.accesskeys import services
    from app.accesskeys.models import AccessKey
    from app.errors import Conflict
    from app.extensions import db
    from app.identity.models import User

    def add() -> str:
        creator = db.session.get(User, admin.id)
        assert creator is not None
        created = services.create_access_key(
            creator, name="contended", roles=[{"role": "global_viewer"}], now=utcnow()
        )
        return created.token

    results = race(app, [add] * 10, refused=Conflict, describe=lambda exc: exc.error)
    assert [r for r in results if r[0] == "error"] == []
    assert len([r for r in results if r[0] == "ok"]) == 1, results
    assert {r[1] for r in results if r[0] == "refused"} == {"name_taken"}
    with app.app_context():
        count = db.session.scalar(
            select(func.count(AccessKey.id)).where(AccessKey.name == "contended")
        )
        assert count == 1


def test_concurrent_role_edits_leave_one_complete_role_set(
    app: Flask, admin: UserInfo, make_cloud_account
) -> None:
    from app.accesskeys import services
    from app.extensions import db
    from app.identity.models import User

    accounts = [make_cloud_account(admin.family_id, f"Account {n}") for n in range(4)]
    with app.app_context():
        creator = db.session.get(User, admin.id)
        key_id = str(
            services.create_access_key(
                creator, name="edited", roles=[{"role": "global_viewer"}], now=utcnow()
            ).key.id
        )

    def edit(account: str) -> Callable[[], list[dict[str, Any]]]:
        def run() -> list[dict[str, Any]]:
            actor = db.session.get(User, admin.id)
            assert actor is not None
            roles = [{"role": "cloud_account_viewer", "accounts": [account]}]
            updated = services.update_roles(actor, key_id, roles=roles, now=utcnow())
            return [grant.describe() for grant in updated.roles]

        return run

    results = race(app, [edit(account) for account in accounts])
    assert [r for r in results if r[0] != "ok"] == []
    with app.app_context():
        final = [g.describe() for g in services.get_access_key(admin.family_id, key_id).roles]
    assert final in [r[1] for r in results]
    assert len(final) == 1 and len(final[0]["accounts"]) == 1
