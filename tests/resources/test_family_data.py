"""The resource services other features call: creating an account (the CLI) and a family's
data as a whole (the family reset and the purge of a family's last member)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.clock import utcnow
from app.errors import ValidationFailed


def test_an_account_in_an_unknown_family_is_refused(app):
    from app.extensions import db
    from app.resources import services
    from app.resources.models import Account

    with app.app_context():
        with pytest.raises(ValidationFailed) as refused:
            services.create_account(
                family_id=uuid.uuid4(),
                name="Checking",
                currency="USD",
                balance=Decimal(0),
                now=utcnow(),
            )
        assert refused.value.description == "Family does not exist"
        assert refused.value.extra == {"errors": ["Family does not exist"]}
        # The session is usable again, and nothing was kept.
        assert db.session.scalar(select(func.count()).select_from(Account)) == 0


def _seed(family_id: uuid.UUID) -> None:
    from app.resources import services
    from app.resources.scans import services as scans

    now = utcnow()
    account = services.create_account(
        family_id=family_id, name="Checking", currency="USD", balance=Decimal(0), now=now
    )
    tag = services.create_tag(family_id, {"name": "food"}, now)
    services.create_transaction(
        family_id,
        {
            "account_id": account.id,
            "date": date(2026, 1, 2),
            "amount": Decimal("-3"),
            "name": "lunch",
            "tag_ids": [tag.id],
        },
        now,
    )
    services.create_valuation(
        family_id,
        {"account_id": account.id, "date": date(2026, 1, 1), "amount": Decimal("100")},
        now,
    )
    services.create_cloud_account(family_id, name="Production", provider="aws", now=now)
    services.create_task(family_id, title="Rotate the keys", now=now)
    scans.run_scan(family_id, target="app.example.com", created_by_user_id=None, now=now)
    services.sync_family(family_id, now)


def test_family_data_is_counted_and_deleted_per_kind(app, user, stranger):
    from app.extensions import db
    from app.resources import services

    with app.app_context():
        _seed(user.family_id)
        assert services.count_family_data(user.family_id) == {
            "accounts": 1,
            "transactions": 1,
            "tags": 1,
            "taggings": 1,
            "valuations": 1,
        }

        deleted = services.delete_family_data(user.family_id)
        db.session.commit()
        assert deleted == {
            "taggings": 1,
            "transactions": 1,
            "valuations": 1,
            "tags": 1,
            "syncs": 1,
            "accounts": 1,
            "cloud_accounts": 1,
            "tasks": 1,
            "scans": 1,
        }
        assert not any(services.count_family_data(user.family_id).values())
        # Another family's data is untouched.
        assert all(n == 1 for n in services.count_family_data(stranger.user.family_id).values())
