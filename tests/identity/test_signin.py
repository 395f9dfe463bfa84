"""Password sign-in at the service level: what the HTTP tests cannot see from outside."""

from __future__ import annotations

import pytest
from flask import current_app

from app import crypto
from app.identity import signin
from tests.support.factories import PASSWORD
from tests.support.service_inputs import CALLER, NOW


def test_a_hash_made_with_older_parameters_is_replaced_at_sign_in(new_user) -> None:
    user = new_user()
    old_hash = user.password_hash
    current_app.config["ARGON2_TIME_COST"] += 1
    assert crypto.password_needs_rehash(old_hash)

    signed_in = signin.authenticate_password(
        email=user.email, password=PASSWORD, now=NOW, caller=CALLER
    )

    assert signed_in.user.password_hash != old_hash
    assert not crypto.password_needs_rehash(signed_in.user.password_hash)
    assert crypto.verify_password(PASSWORD, signed_in.user.password_hash)


def test_a_wrong_password_leaves_the_hash_alone(new_user) -> None:
    user = new_user()
    old_hash = user.password_hash
    current_app.config["ARGON2_TIME_COST"] += 1

    with pytest.raises(signin.InvalidCredentials):
        signin.authenticate_password(
            email=user.email, password="not the password", now=NOW, caller=CALLER
        )

    assert user.password_hash == old_hash
