"""Races on PostgreSQL: the last-admin rule holds when a tenant's two admins step each other
(or themselves) down at the same moment: the tenant row is locked first, so the second change
sees the first and is refused (422 last_admin); the tenant always keeps an active admin."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.clock import utcnow
from tests.support.database import requires_postgres
from tests.support.factories import UserInfo

pytestmark = requires_postgres


def _race(app: Flask, jobs: list[Callable[[], Any]]) -> list[str]:
    from app.admin.services import LastAdmin

    barrier = threading.Barrier(len(jobs))
    results: list[str] = []
    lock = threading.Lock()

    def worker(job: Callable[[], Any]) -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                job()
                outcome = "ok"
        except LastAdmin:
            outcome = "last_admin"
        except Exception as exc:  # collected and asserted on below
            outcome = repr(exc)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == len(jobs)
    return results


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
    for _ in range(3):  # a few rounds: one lucky interleaving proves little
        first = make_user(role="admin")
        second = make_user(role="admin", family_id=first.family_id)
        results = _race(app, [_change(first, second, **change), _change(second, first, **change)])
        assert sorted(results) == ["last_admin", "ok"], results
        assert _active_admins(app, first.family_id) == 1


def test_two_admins_stepping_themselves_down_leave_one(
    app: Flask, make_user: Callable[..., UserInfo]
) -> None:
    first = make_user(role="admin")
    second = make_user(role="admin", family_id=first.family_id)
    results = _race(
        app, [_change(first, first, role="guest"), _change(second, second, role="guest")]
    )
    assert sorted(results) == ["last_admin", "ok"], results
    assert _active_admins(app, first.family_id) == 1
