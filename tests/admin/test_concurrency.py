"""Races on PostgreSQL: the last-admin rule holds when a tenant's two admins step each other
(or themselves) down at the same moment: the tenant row is locked first, so the second change
sees the first and is refused (422 last_admin); the tenant always keeps an active admin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.clock import utcnow
from tests.support.database import requires_postgres
from tests.support.factories import UserInfo
from tests.support.races import race

pytestmark = requires_postgres


def _change(actor: UserInfo, target: UserInfo, **change: Any) -> Callable[[], Any]:
    def job() -> Any:
        from app.admin import services
        from app.extensions import db
        from app.identity.models import User
        from app.requestctx import SYSTEM

        actor_row = db.session.get(User, actor.id)
        target_row = db.session.get(User, target.id)
        assert actor_row is not None and target_row is not None
        return services.change_user(actor_row, target_row, now=utcnow(), caller=SYSTEM, **change)

    return job


def _active_admins(app: Flask, family_id: Any) -> int:
    from app.extensions import db
    from app.identity.models import User

    with app.app_context():
        return (
            db.session.scalar(
                select(func.count(User.id)).where(
                    User.family_id == family_id,
                    User.active.is_(True),
                    User.role.in_(("admin", "super_admin")),
                )
            )
            or 0
        )


@pytest.mark.parametrize(
    "change", [{"role": "member"}, {"active": False}], ids=["demote", "deactivate"]
)
def test_two_admins_stepping_each_other_down_leave_one(
    app: Flask, make_user: Callable[..., UserInfo], change: dict[str, Any]
) -> None:
    from app.admin.services import LastAdmin

    for _ in range(3):  # a few rounds: one lucky interleaving proves little
        first = make_user(role="admin")
        second = make_user(role="admin", family_id=first.family_id)
        jobs = [_change(first, second, **change), _change(second, first, **change)]
        results = race(app, jobs, refused=LastAdmin)
        assert sorted(kind for kind, _ in results) == ["ok", "refused"], results
        assert _active_admins(app, first.family_id) == 1


def test_two_admins_stepping_themselves_down_leave_one(
    app: Flask, make_user: Callable[..., UserInfo]
) -> None:
    from app.admin.services import LastAdmin

    first = make_user(role="admin")
    second = make_user(role="admin", family_id=first.family_id)
    jobs = [_change(first, first, role="guest"), _change(second, second, role="guest")]
    results = race(app, jobs, refused=LastAdmin)
    assert sorted(kind for kind, _ in results) == ["ok", "refused"], results
    assert _active_admins(app, first.family_id) == 1
