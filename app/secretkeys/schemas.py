"""What the secret-key API accepts and returns (the OpenAPI document uses the same schemas).
No schema has a field for the key itself except ``RevealOut``: the user's own, once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from app.clock import rfc3339
from app.secretkeys.models import STATUSES


class Rfc3339(fields.DateTime):
    """A naive-UTC timestamp as RFC 3339 with ``Z`` (app.clock.rfc3339)."""

    def _serialize(
        self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any
    ) -> str | None:
        return None if value is None else rfc3339(value)


class StringOrList(fields.Field):
    """A comma-separated string, or a list of strings."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> str | list[str]:
        if isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return list(value)
        raise ValidationError("Must be a comma-separated string or a list of strings")


class SecretKeyListQuery(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=25, validate=validate.Range(min=1, max=100))


class SecretKeyPagination(Schema):
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total_count = fields.Integer(required=True)
    total_pages = fields.Integer(required=True)


class UserKeyOut(Schema):
    """A user of the tenant as a Secret Key Administrator sees them: never the key."""

    user_id = fields.UUID(required=True)
    email = fields.String(required=True)
    name = fields.String(allow_none=True)
    active = fields.Boolean(required=True)
    secret_key = fields.String(
        required=True, validate=validate.OneOf(("none", "pending_reveal", "active"))
    )
    generation = fields.Integer(allow_none=True)
    created_at = Rfc3339(allow_none=True)
    revealed_at = Rfc3339(allow_none=True)
    reveal_link_expires_at = Rfc3339(allow_none=True)
    ip_restrictions_count = fields.Integer(required=True)


class UserKeyPage(Schema):
    users = fields.List(fields.Nested(UserKeyOut), required=True)
    pagination = fields.Nested(SecretKeyPagination, required=True)


class LinkSentOut(Schema):
    user_id = fields.UUID(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    reveal_link_expires_at = Rfc3339(required=True)


class RevokedOut(Schema):
    user_id = fields.UUID(required=True)
    status = fields.String(required=True)


class RestrictionsIn(Schema):
    class Meta:
        unknown = RAISE

    restrictions = StringOrList(
        required=True,
        metadata={
            "description": "Comma-separated IP addresses, ranges (a-b), CIDR blocks and "
            "hostnames, or a list of them; empty for no restriction",
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        },
    )


class EntryOut(Schema):
    type = fields.String(
        required=True, validate=validate.OneOf(("ip", "range", "cidr", "hostname"))
    )
    value = fields.String(required=True)


class RestrictionsOut(Schema):
    raw = fields.String(required=True)
    entries = fields.List(fields.Nested(EntryOut), required=True)
    updated_at = Rfc3339(allow_none=True)


class TokenOut(Schema):
    """``Accept: application/json`` at the token endpoint; otherwise the bare JWT as
    text/plain."""

    token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)
    expires_at = Rfc3339(required=True)


class IssuedTokenOut(Schema):
    """One issued JWT, by its id (never the JWT)."""

    jti = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(("active", "revoked")))
    issued_at = Rfc3339(required=True)
    expires_at = Rfc3339(required=True)
    revoked_at = Rfc3339(allow_none=True)


class IssuedTokenList(Schema):
    tokens = fields.List(fields.Nested(IssuedTokenOut), required=True)


class RevealIn(Schema):
    class Meta:
        unknown = RAISE

    token = fields.String(required=True, validate=validate.Length(min=1, max=128))


class RevealOut(Schema):
    user_id = fields.UUID(required=True)
    secret_key = fields.String(required=True)
