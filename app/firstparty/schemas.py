"""What Sure's first-party endpoints accept, from JSON or Rails' bracket form alike.

Loading never fails: a missing or malformed field loads as its fallback, and the service
answers it with Sure's own error, in Sure's order of checks (a marshmallow 422 would be
neither Sure's status nor its body)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, pre_load


class Text(fields.Field[str | None]):
    """A string as sent (stripped if asked); anything else, ``null`` included, is the
    fallback."""

    def __init__(self, *, fallback: str | None = None, strip: bool = False) -> None:
        super().__init__(load_default=fallback)
        self.fallback = fallback
        self.strip = strip

    def _validate_missing(self, value: object) -> None:
        """``null`` is one more malformed value, not a load error."""

    def _deserialize(
        self, value: object, attr: str | None, data: Mapping[str, Any] | None, **kwargs: object
    ) -> str | None:
        if not isinstance(value, str):
            return self.fallback
        return value.strip() if self.strip else value


class Raw(fields.Field[object]):
    """Passed through untouched, for the service's own rule (the device: identity's
    ``valid_device``)."""

    def __init__(self) -> None:
        super().__init__(load_default=None)

    def _validate_missing(self, value: object) -> None:
        """``null`` is passed on like any other value."""

    def _deserialize(
        self, value: object, attr: str | None, data: Mapping[str, Any] | None, **kwargs: object
    ) -> object:
        return value


def _device_id(device: object) -> str | None:
    value = device.get("device_id") if isinstance(device, dict) else None
    return value if isinstance(value, str) else None


class SureSchema(Schema):
    class Meta:
        unknown = EXCLUDE


class NewUserIn(SureSchema):
    """``user[...]`` of a signup."""

    email = Text(fallback="")
    password = Text(fallback="")
    first_name = Text()
    last_name = Text()


class SignupIn(SureSchema):
    """Contract §3.1."""

    user = fields.Nested(NewUserIn)
    invite_code = Text(fallback="", strip=True)
    device = Raw()

    @pre_load
    def _user_object(self, data: dict[str, Any], **kwargs: object) -> dict[str, Any]:
        # A missing or malformed user is an empty one: the password policy speaks first.
        if not isinstance(data.get("user"), dict):
            return {**data, "user": {}}
        return data


class LoginIn(SureSchema):
    """Contract §3.2."""

    email = Text(fallback="")
    password = Text(fallback="")
    otp_code = Text()
    device = Raw()


class RefreshIn(SureSchema):
    """Contract §3.3: the refresh token, and the device whose last use it updates."""

    refresh_token = Text(fallback="", strip=True)
    device_id = fields.Function(
        deserialize=_device_id, data_key="device", load_default=None, allow_none=True
    )


class MfaStepUpIn(SureSchema):
    """The MFA management endpoints' proofs. A missing password is checked (and refused) like
    a wrong one; a missing code is the view's 400."""

    password = Text(fallback="")
    code = Text(fallback="")
