"""What the SSO administration API returns and accepts."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields


class SsoIdentityOut(Schema):
    id = fields.UUID(required=True)
    user_id = fields.UUID(required=True)
    provider = fields.String(required=True, metadata={"description": "The provider's key"})
    issuer = fields.String(required=True)
    subject = fields.String(required=True, metadata={"description": "The provider's sub"})
    email = fields.String(allow_none=True, metadata={"description": "As the provider said"})
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    last_used_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    blocked = fields.Boolean(required=True)
    blocked_at = fields.String(allow_none=True, metadata={"format": "date-time"})


class SsoIdentityList(Schema):
    sso_identities = fields.List(fields.Nested(SsoIdentityOut), required=True)


class SsoIdentityPatch(Schema):
    class Meta:
        unknown = RAISE

    blocked = fields.Boolean(
        required=True,
        metadata={"description": "true: the identity signs nobody in; false: it does again"},
    )
