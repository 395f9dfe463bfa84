"""Expiry rules with a fixed clock (reference D6, T32): presets are calendar months with the day
clamped to the month's end, custom days are whole days within the configured maximum, and
the JWT's ``exp`` is exactly the stored expiry (whole seconds)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from flask import Flask

from app.clock import epoch
from tests.support.factories import UserInfo
from tests.support.service_inputs import CALLER, NOW


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (datetime(2031, 1, 31, 10, 0, 0), 1, datetime(2031, 2, 28, 10, 0, 0)),
        (datetime(2032, 1, 31, 10, 0, 0), 1, datetime(2032, 2, 29, 10, 0, 0)),  # leap year
        (datetime(2031, 8, 31, 23, 59, 59), 6, datetime(2032, 2, 29, 23, 59, 59)),
        (datetime(2031, 3, 31, 0, 0, 0), 3, datetime(2031, 6, 30, 0, 0, 0)),
        (datetime(2031, 12, 15, 8, 0, 0), 1, datetime(2032, 1, 15, 8, 0, 0)),
        (datetime(2031, 11, 30, 8, 0, 0), 3, datetime(2032, 2, 29, 8, 0, 0)),
        (datetime(2032, 2, 29, 12, 0, 0), 12, datetime(2033, 2, 28, 12, 0, 0)),
        (datetime(2031, 5, 6, 7, 8, 0), 6, datetime(2031, 11, 6, 7, 8, 0)),
        (datetime(2031, 5, 6, 7, 8, 0), 12, datetime(2032, 5, 6, 7, 8, 0)),
    ],
)
def test_calendar_months_clamp_the_day(start, months, expected) -> None:
    from app.accesskeys.services import add_months

    assert add_months(start, months) == expected


def _create(app: Flask, owner: UserInfo, now: datetime, **expiry):  # type: ignore[no-untyped-def]
    from app.accesskeys import services
    from app.extensions import db
    from app.identity.models import User

    return services.create_access_key(
        db.session.get(User, owner.id),
        name=f"key {now.isoformat()} {sorted(expiry.items())}",
        roles=[{"role": "global_viewer"}],
        now=now,
        caller=CALLER,
        **expiry,
    )


@pytest.mark.parametrize(
    ("expiry", "expected"),
    [
        ({}, datetime(2031, 11, 6, 7, 8, 0)),  # the default: six months
        ({"expiration": "1m"}, datetime(2031, 6, 6, 7, 8, 0)),
        ({"expiration": "3m"}, datetime(2031, 8, 6, 7, 8, 0)),
        ({"expiration": "6m"}, datetime(2031, 11, 6, 7, 8, 0)),
        ({"expiration": "12m"}, datetime(2032, 5, 6, 7, 8, 0)),
        ({"custom_days": 1}, datetime(2031, 5, 7, 7, 8, 0)),
        ({"custom_days": 730}, datetime(2033, 5, 5, 7, 8, 0)),
    ],
)
def test_the_stored_expiry_and_the_jwt_exp_agree(app, ctx, user, expiry, expected) -> None:
    from app.accesskeys.services import PROFILE

    created = _create(app, user, NOW, **expiry)
    assert created.key.created_at == NOW
    assert created.key.expires_at == expected
    claims = PROFILE.decode(created.token, now=NOW)
    assert claims["exp"] == epoch(expected)
    assert claims["iat"] == epoch(NOW)
    assert created.describe()["expires_at"] == expected.isoformat() + "Z"


def test_the_clock_is_cut_to_whole_seconds(app, ctx, user) -> None:
    created = _create(app, user, datetime(2031, 1, 31, 10, 0, 0, 987654), expiration="1m")
    assert created.key.created_at == datetime(2031, 1, 31, 10, 0, 0)
    assert created.key.expires_at == datetime(2031, 2, 28, 10, 0, 0)
    assert created.describe()["expires_at"] == "2031-02-28T10:00:00Z"


@pytest.mark.config(ACCESS_KEY_MAX_CUSTOM_DAYS=10)
def test_custom_days_are_bounded_by_the_configuration(app, ctx, user) -> None:
    from app.errors import ValidationFailed

    assert _create(app, user, NOW, custom_days=10).key.expires_at == datetime(2031, 5, 16, 7, 8)
    for days in (0, 11, -1):
        with pytest.raises(ValidationFailed, match="custom_days must be from 1 to 10"):
            _create(app, user, NOW, custom_days=days)


@pytest.mark.parametrize(
    "config",
    [
        {"ACCESS_KEY_DEFAULT_EXPIRATION": "7m", "ACCESS_KEY_MAX_CUSTOM_DAYS": 730},
        {"ACCESS_KEY_DEFAULT_EXPIRATION": "6m", "ACCESS_KEY_MAX_CUSTOM_DAYS": 0},
        {"ACCESS_KEY_DEFAULT_EXPIRATION": "6m", "ACCESS_KEY_MAX_CUSTOM_DAYS": "730"},
    ],
)
def test_unusable_settings_stop_start_up(database_url, instance_dir, config) -> None:
    from app import create_app
    from app.config import ConfigurationError
    from tests.support.config import base_config

    with pytest.raises(ConfigurationError, match="ACCESS_KEY_"):
        create_app({**base_config(database_url, instance_dir), **config})
