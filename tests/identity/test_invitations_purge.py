"""``flask tokens purge`` deletes invitations that expired unaccepted (they let nobody in any
more) and keeps pending and accepted ones."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from app.clock import utcnow


def test_tokens_purge_deletes_invitations_that_expired_unaccepted(app, user) -> None:
    from app.extensions import db
    from app.identity import invitations
    from app.identity.models import Invitation

    week_ago = utcnow() - timedelta(days=8)
    with app.app_context():
        expired = invitations.create_invitation(
            email="late@example.com", family_id=user.family_id, now=week_ago
        ).id
        accepted = invitations.create_invitation(
            email="came@example.com", family_id=user.family_id, now=week_ago
        )
        assert invitations.claim_invitation(accepted, user.id, now=week_ago)
        db.session.commit()
        accepted_id = accepted.id
        pending = invitations.create_invitation(
            email="soon@example.com", family_id=user.family_id, now=utcnow()
        ).id

    result = app.test_cli_runner().invoke(args=["tokens", "purge", "--batch-size", "1"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["purged"]["invitations"] == 1
    with app.app_context():
        left = set(db.session.scalars(select(Invitation.id)))
    assert left == {accepted_id, pending}
    assert expired not in left
