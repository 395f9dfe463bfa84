"""TOTP and backup codes at the service level, with ``now`` passed in: enrolment, the accepted
window of steps, replay, single-use backup codes, and the budgets of step-up checks."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from app import crypto
from app.clock import epoch
from app.errors import TooManyRequests
from app.extensions import db
from app.identity import mfa
from app.identity.models import BackupCode
from tests.support.factories import PASSWORD
from tests.support.service_inputs import CALLER, NOW


def code_at(secret: str, moment_offset: int) -> str:
    """The code an authenticator shows ``moment_offset`` seconds from NOW."""
    return pyotp.TOTP(secret).at(epoch(NOW) + moment_offset)


def test_enrolment_stays_pending_until_a_code_confirms_it(new_user) -> None:
    user = new_user()
    epoch_before = user.session_epoch

    secret = mfa.start_enrolment(user, PASSWORD, now=NOW, caller=CALLER)["secret"]

    assert user.otp_required is False
    assert user.otp_secret_encrypted not in (None, secret)
    assert crypto.decrypt(user.otp_secret_encrypted) == secret
    # Pending: the code of the planted secret is no second factor yet.
    assert mfa.verify_second_factor(user, code_at(secret, 0), NOW) is False

    codes = mfa.confirm_enrolment(user, code_at(secret, 0), now=NOW, caller=CALLER)

    assert user.otp_required is True
    assert user.session_epoch == epoch_before + 1
    assert len(set(codes)) == mfa.BACKUP_CODE_COUNT
    stored = set(
        db.session.scalars(select(BackupCode.code_digest).where(BackupCode.user_id == user.id))
    )
    assert stored == {crypto.digest(code) for code in codes}


def test_enrolment_with_a_wrong_password_plants_no_secret(new_user) -> None:
    user = new_user()

    with pytest.raises(mfa.MfaError, match=mfa.MSG_PASSWORD):
        mfa.start_enrolment(user, "not the password", now=NOW, caller=CALLER)

    assert user.otp_secret_encrypted is None
    assert user.otp_required is False


@pytest.mark.parametrize(
    ("code_offset", "accepted"),
    [
        (0, True),  # the current step
        (-1, True),  # the step before: a code typed just as it rolled over
        (-31, False),  # two steps back
        (30, False),  # the next step: a clock running ahead is not trusted
    ],
)
def test_the_current_and_the_previous_step_are_accepted(new_user, code_offset, accepted) -> None:
    user = new_user()
    secret = mfa.enable_totp(user, now=NOW)

    assert mfa.verify_second_factor(user, code_at(secret, code_offset), NOW) is accepted


def test_a_code_is_accepted_once_and_never_after_a_later_one(new_user) -> None:
    user = new_user()
    secret = mfa.enable_totp(user, now=NOW)
    later = NOW + timedelta(seconds=30)

    assert mfa.verify_second_factor(user, code_at(secret, 0), NOW) is True
    assert mfa.verify_second_factor(user, code_at(secret, 0), NOW) is False
    assert mfa.verify_second_factor(user, code_at(secret, 30), later) is True
    # Still inside the window at ``later``, but older than the step already claimed.
    assert mfa.verify_second_factor(user, code_at(secret, 0), later) is False


def test_each_backup_code_works_once(new_user) -> None:
    user = new_user()
    codes = mfa.enable_immediately(user, now=NOW)["backup_codes"]

    assert mfa.verify_second_factor(user, codes[0], NOW) is True
    assert mfa.verify_second_factor(user, codes[0], NOW) is False
    # Typed from a printout: case and surrounding spaces do not matter.
    assert mfa.verify_second_factor(user, f"  {codes[1].upper()} ", NOW) is True
    db.session.commit()

    assert mfa.remaining_backup_codes(user) == mfa.BACKUP_CODE_COUNT - 2


def test_new_backup_codes_replace_the_old_ones(new_user) -> None:
    user = new_user()
    enabled = mfa.enable_immediately(user, now=NOW)
    old = enabled["backup_codes"]

    fresh = mfa.regenerate_backup_codes(user, code_at(enabled["secret"], 0), now=NOW, caller=CALLER)

    assert set(fresh).isdisjoint(old)
    assert mfa.verify_second_factor(user, old[0], NOW) is False
    assert mfa.verify_second_factor(user, fresh[0], NOW) is True


def test_a_backup_code_cannot_authorise_new_backup_codes(new_user) -> None:
    user = new_user()
    codes = mfa.enable_immediately(user, now=NOW)["backup_codes"]

    with pytest.raises(mfa.MfaError, match=mfa.MSG_CODE):
        mfa.regenerate_backup_codes(user, codes[0], now=NOW, caller=CALLER)

    assert mfa.remaining_backup_codes(user) == mfa.BACKUP_CODE_COUNT  # nothing was claimed


@pytest.mark.config(
    RATE_LIMIT_LOGIN_ACCOUNT="2 per 15 minutes", RATE_LIMIT_OTP_ACCOUNT="100 per 5 minutes"
)
def test_a_right_password_with_a_wrong_code_forgives_nothing(new_user) -> None:
    """Turning MFA off resets the account's sign-in budget only when both secrets were right;
    a reset after the password alone would tell a guesser that the password was right."""
    user = new_user()
    codes = mfa.enable_immediately(user, now=NOW)["backup_codes"]
    unknown_code = "0123456789abcdef"
    assert unknown_code not in codes

    for _ in range(2):
        with pytest.raises(mfa.MfaError, match=mfa.MSG_PASSWORD_OR_CODE):
            mfa.disable(user, PASSWORD, unknown_code, now=NOW, caller=CALLER)

    with pytest.raises(TooManyRequests):
        mfa.disable(user, PASSWORD, codes[0], now=NOW, caller=CALLER)
    assert user.otp_required is True
