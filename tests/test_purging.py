"""``purge_in_batches`` walks a table once per pass: every batch after the first starts after
the last id of the batch before (keyset pagination), so a purge's cost does not grow with the
live rows it has already passed. (tests/oauth2/test_purge.py: a parent that becomes deletable
once its children are gone still goes in the same purge.)"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, select

from app.clock import utcnow


def test_each_batch_starts_after_the_previous_one_and_all_dead_rows_go(app, user) -> None:
    from app.extensions import db
    from app.identity import invitations
    from app.identity.models import Invitation
    from app.purging import purge_in_batches

    now = utcnow()
    with app.app_context():
        for n in range(7):  # dead: expired unaccepted
            invitations.create_invitation(
                email=f"late{n}@example.com", family_id=user.family_id, now=now - timedelta(days=8)
            )
        live = {
            invitations.create_invitation(
                email=f"soon{n}@example.com", family_id=user.family_id, now=now
            ).id
            for n in range(5)
        }
        db.session.commit()

        lower_bounds: list[object] = []

        def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
            if statement.lstrip().upper().startswith("SELECT") and "invitations" in statement:
                lower_bounds.append(statement.count(">"))

        event.listen(db.engine, "before_cursor_execute", capture)
        try:
            purged = purge_in_batches(
                Invitation.id,
                Invitation.accepted_at.is_(None),
                Invitation.expires_at <= now,
                batch_size=3,
            )
        finally:
            event.remove(db.engine, "before_cursor_execute", capture)
        left = set(db.session.scalars(select(Invitation.id)))

    assert purged == 7
    assert left == live
    # Pass 1: batches of 3, 3, 1 and an empty one; the first scans from the start, every later
    # one from after the previous batch's last id (one more ">" in its WHERE clause). Pass 2
    # (pass 1 deleted rows) scans from the start again and finds nothing.
    first = lower_bounds[0]
    assert lower_bounds == [first, first + 1, first + 1, first + 1, first]
