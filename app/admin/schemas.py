"""What the role administration API accepts and returns."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from app.identity.roles import GRANTED_ROLES


class RoleIn(Schema):
    class Meta:
        unknown = RAISE

    role = fields.String(required=True, validate=validate.OneOf(list(GRANTED_ROLES)))


class UserRolesOut(Schema):
    user_id = fields.UUID(required=True)
    email = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
