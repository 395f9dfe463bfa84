"""JIT account creation under real concurrency, on PostgreSQL: the same identity arriving in
ten callbacks at once makes one account, one link and one family; the others are refused
with the documented error (the web callback then offers the link page), never a 5xx or a
half-written row. Likewise one invitation is accepted once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.clock import utcnow
from tests.support.races import ON_POSTGRES_ONLY, Outcome, race

pytestmark = [
    *ON_POSTGRES_ONLY,
    pytest.mark.config(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 15, "max_overflow": 0}),
]

ISSUER = "https://login.example.test"


def _create_in_parallel(app: Flask, identities_: list[Any]) -> list[Outcome]:
    from app.sso.errors import AccountCreationNotAllowed, IdentityAlreadyLinked
    from app.sso.services import accounts, providers

    provider = providers.build_provider(
        key="corp", issuer=ISSUER, client_id="c", client_secret="s", jit_mode="link_only"
    )

    def create(identity: Any) -> Callable[[], Any]:
        return lambda: accounts.create_account(
            provider, identity, first_name=None, last_name=None, now=utcnow()
        )

    refused = (AccountCreationNotAllowed, IdentityAlreadyLinked)
    return race(app, [create(identity) for identity in identities_], refused=refused)


def _count(app: Flask, model: type) -> int:
    from app.extensions import db

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_one_identity_ten_parallel_creations_one_account(app: Flask, make_user: Any) -> None:
    from app.identity import invitations
    from app.identity.models import Family, Invitation, User
    from app.sso.models import SsoIdentity
    from app.sso.services.identities import UpstreamIdentity

    inviter = make_user(role="admin")
    with app.app_context():
        invitations.create_invitation(
            email="racer@corp.example", family_id=inviter.family_id, now=utcnow()
        )
    same = UpstreamIdentity("corp", ISSUER, "racer", "racer@corp.example", True, None, None)
    results = _create_in_parallel(app, [same] * 10)
    assert sorted(kind for kind, _ in results) == ["ok"] + ["refused"] * 9, results
    assert _count(app, User) == 2
    assert _count(app, SsoIdentity) == 1
    assert _count(app, Family) == 1  # the invitation's; no stray family from a loser
    from app.extensions import db

    with app.app_context():
        accepted = db.session.scalars(select(Invitation.accepted_by_user_id)).all()
        assert len(accepted) == 1 and accepted[0] is not None


def test_one_invitation_two_identities_one_account(app: Flask, make_user: Any) -> None:
    """Two provider identities asserting the same invited address at once: one account."""
    from app.identity import invitations
    from app.identity.models import User
    from app.sso.models import SsoIdentity
    from app.sso.services.identities import UpstreamIdentity

    inviter = make_user(role="admin")
    with app.app_context():
        invitations.create_invitation(
            email="twin@corp.example", family_id=inviter.family_id, now=utcnow()
        )
    twins = [
        UpstreamIdentity("corp", ISSUER, f"twin-{i}", "twin@corp.example", True, None, None)
        for i in range(6)
    ]
    results = _create_in_parallel(app, twins)
    assert sorted(kind for kind, _ in results) == ["ok"] + ["refused"] * 5, results
    assert _count(app, User) == 2
    assert _count(app, SsoIdentity) == 1
