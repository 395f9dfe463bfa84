"""Purging a deactivated user (app.firstparty.purge) deals with the SSO tables: the user's
identity links are deleted, an identity the user blocked and an invitation the user accepted
forget who; the family's pending invitations go with its last member."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from app.clock import utcnow

ISSUER = "https://login.example.test"


def test_purge_removes_and_forgets_sso_rows(app: Flask, make_user: Any) -> None:
    from app.extensions import db
    from app.firstparty.purge import purge_user
    from app.identity import invitations
    from app.identity.models import Invitation, User
    from app.sso.models import SsoIdentity
    from app.sso.services import identities
    from app.sso.services.identities import UpstreamIdentity

    admin = make_user(role="admin")
    leaver = make_user(family_id=admin.family_id)
    loner = make_user()
    now = utcnow()
    with app.app_context():
        leaver_row = db.session.get(User, leaver.id)
        mine = identities.link(
            leaver_row, UpstreamIdentity("corp", ISSUER, "leaver", None, True, None, None), now=now
        )
        theirs = identities.link(
            db.session.get(User, admin.id),
            UpstreamIdentity("corp", ISSUER, "admin", None, True, None, None),
            now=now,
        )
        identities.set_blocked(theirs, True, now=now, by_user_id=leaver.id)
        accepted = invitations.create_invitation(
            email="x@family.example", family_id=admin.family_id, now=now
        )
        invitations.claim_invitation(accepted, leaver.id, now=now)
        invitations.create_invitation(email="y@loner.example", family_id=loner.family_id, now=now)
        mine_id, theirs_id, accepted_id = mine.id, theirs.id, accepted.id
        for who in (leaver.id, loner.id):
            user = db.session.get(User, who)
            user.active, user.deactivated_at = False, now - timedelta(days=60)
        db.session.commit()

        assert purge_user(leaver.id, cutoff=now, now=now)
        assert purge_user(loner.id, cutoff=now, now=now)
        db.session.expire_all()  # read what is stored, not this session's copies

        assert db.session.get(SsoIdentity, mine_id) is None
        kept = db.session.get(SsoIdentity, theirs_id)
        assert kept.blocked_at is not None and kept.blocked_by_user_id is None
        assert db.session.get(Invitation, accepted_id).accepted_by_user_id is None
        assert (
            db.session.scalars(
                select(Invitation.email).where(Invitation.family_id == loner.family_id)
            ).all()
            == []
        )
