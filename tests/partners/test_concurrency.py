"""Races on PostgreSQL: one assertion presented by 20 requests at once buys exactly one admin
token (the unique claim of its digest decides; decision D3), and concurrent rotations of one
organisation each get a version of their own (one atomic UPDATE), ending at version + N."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from app.clock import utcnow
from tests.support.database import requires_postgres
from tests.support.partners import assertion
from tests.support.races import race

pytestmark = requires_postgres


def test_twenty_parallel_exchanges_of_one_assertion_issue_exactly_one_token(
    app: Flask, organization: dict[str, Any]
) -> None:
    from app.errors import TollgateError
    from app.extensions import db
    from app.partners import tokens
    from app.partners.models import OrgAdminToken, PartnerAssertion

    jwt = assertion(organization["ssoSecret"], organization["organizationId"])

    def present() -> str:
        return tokens.exchange(jwt, now=utcnow()).token

    results = race(
        app,
        [present] * 20,
        refused=TollgateError,
        describe=lambda exc: (exc.status, exc.error, exc.description),
        request_context=True,
    )
    assert [r for r in results if r[0] == "error"] == []
    winners = [r[1] for r in results if r[0] == "ok"]
    assert len(winners) == 1, results
    losers = [r[1] for r in results if r[0] == "refused"]
    assert len(losers) == 19
    assert {(status, error) for status, error, _ in losers} == {(401, "invalid_assertion")}
    assert all("already used" in message for _, _, message in losers)
    with app.app_context():
        assert db.session.scalar(select(func.count(OrgAdminToken.id))) == 1
        assert db.session.scalar(select(func.count(PartnerAssertion.id))) == 1
    # The one token works.
    response = app.test_client().get(
        "/api/v1/tasks", headers={"Authorization": f"Bearer {winners[0]}"}
    )
    assert response.status_code == 200


def test_concurrent_rotations_each_get_their_own_version(
    app: Flask, partner_user, organization: dict[str, Any]
) -> None:
    from app.extensions import db
    from app.identity.models import Family, User
    from app.partners import services

    def rotate() -> str:
        partner = db.session.get(User, partner_user.id)
        assert partner is not None
        return services.rotate_sso_secret(
            partner, organization["organizationId"], now=utcnow(), region=app.config["REGION"]
        ).sso_secret

    results = race(app, [rotate] * 8, request_context=True)
    assert [r for r in results if r[0] != "ok"] == []
    secrets = {r[1] for r in results}
    assert len(secrets) == 8  # no two rotations handed out the same secret
    with app.app_context():
        family = db.session.get(Family, uuid.UUID(organization["organizationId"]))
        assert family is not None and family.sso_secret_version == 9
