"""What the session endpoints accept and return (the OpenAPI document uses the same schemas).
A field of the wrong type or a missing one is a 422 (``validation_failed``, listing them)."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, post_load, validate


class SessionLoginIn(Schema):
    """``/auth/login`` and ``/authenticate``: the one-time code may be sent as ``totp_code``
    (RedCloud) or ``otp_code`` (Sure); a backup code works there too."""

    class Meta:
        unknown = EXCLUDE

    email = fields.String(required=True, validate=validate.Length(min=1, max=254))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    totp_code = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    otp_code = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))

    @post_load
    def _one_code(self, data: dict[str, Any], **kwargs: object) -> dict[str, Any]:
        totp_code, otp_code = data.pop("totp_code"), data.pop("otp_code")
        code = (totp_code or otp_code or "").strip()
        return {**data, "code": code or None}


class SessionUserOut(Schema):
    id = fields.UUID(required=True)
    email = fields.String(required=True)
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)


class SessionTokensOut(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)
    created_at = fields.Integer(required=True)
    user = fields.Nested(SessionUserOut)


class AuthenticateOut(Schema):
    token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    expires_in = fields.Integer(required=True)


class CallerUserOut(SessionUserOut):
    role = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)


class MeOut(Schema):
    user = fields.Nested(CallerUserOut, allow_none=True, required=True)
    tenant_id = fields.UUID(required=True)
    region = fields.String(required=True)
    credential_type = fields.String(required=True)
    permissions = fields.List(fields.String(), required=True)
    scope = fields.String(required=True)
    mfa_enabled = fields.Boolean(required=True)
    is_partner = fields.Boolean(required=True)
