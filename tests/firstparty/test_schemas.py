"""Loading Sure's first-party requests never fails: whatever the client sends, the service
gets typed values and answers a missing or malformed field with Sure's own error."""

from __future__ import annotations

import pytest

from app.firstparty import schemas

GARBAGE = [None, 5, 1.5, True, [], {}, ["a"], {"a": "b"}]


@pytest.mark.parametrize("junk", GARBAGE)
def test_login_fields_of_the_wrong_type_load_as_their_fallbacks(junk) -> None:
    loaded = schemas.LoginIn().load(
        {"email": junk, "password": junk, "otp_code": junk, "device": junk, "unknown": junk}
    )
    assert loaded == {"email": "", "password": "", "otp_code": None, "device": junk}


def test_an_empty_login_loads() -> None:
    assert schemas.LoginIn().load({}) == {
        "email": "",
        "password": "",
        "otp_code": None,
        "device": None,
    }


@pytest.mark.parametrize("user", [*GARBAGE, "alice"])
def test_a_missing_or_malformed_user_is_an_empty_one(user) -> None:
    loaded = schemas.SignupIn().load({"user": user, "invite_code": "  CODE  "})
    assert loaded["user"] == {"email": "", "password": "", "first_name": None, "last_name": None}
    assert loaded["invite_code"] == "CODE"
    assert loaded["device"] is None


def test_signup_keeps_strings_as_sent() -> None:
    loaded = schemas.SignupIn().load(
        {"user": {"email": " a@b.c ", "password": " p ", "first_name": "", "last_name": 3}}
    )
    assert loaded["user"] == {
        "email": " a@b.c ",
        "password": " p ",
        "first_name": "",
        "last_name": None,
    }
    assert loaded["invite_code"] == ""


@pytest.mark.parametrize(
    ("device", "device_id"),
    [
        ({"device_id": "phone"}, "phone"),
        ({"device_id": 7}, None),
        ("phone", None),
        (None, None),
    ],
)
def test_refresh_takes_the_device_id_when_there_is_one(device, device_id) -> None:
    loaded = schemas.RefreshIn().load({"refresh_token": "  rt  ", "device": device})
    assert loaded == {"refresh_token": "rt", "device_id": device_id}


def test_a_missing_refresh_token_loads_empty() -> None:
    assert schemas.RefreshIn().load({}) == {"refresh_token": "", "device_id": None}
