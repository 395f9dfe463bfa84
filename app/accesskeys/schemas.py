"""What the access-key API accepts and returns. The shapes are checked here; the rules (roles,
account selection, expiry, the unique name) are the service's, so the API and the pages
refuse the same things with the same words."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load

from app.accesskeys.models import KEY_ROLES
from app.accesskeys.services import PRESETS

ACCOUNTS_SCHEMA = {
    "oneOf": [
        {"type": "string", "enum": ["all"]},
        {"type": "array", "items": {"type": "string", "format": "uuid"}},
    ],
    "description": '"all" (every account of the tenant, including ones added later) or '
    "the ids of chosen cloud accounts; only the Cloud Account Viewer chooses",
}


class Accounts(fields.Field):
    """``"all"`` or a list of account ids (strings); the service checks the ids."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> str | list[str]:
        if value == "all":
            return "all"
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
        raise ValidationError('must be "all" or a list of cloud account ids')


class RoleIn(Schema):
    class Meta:
        unknown = RAISE

    role = fields.String(required=True, metadata={"enum": list(KEY_ROLES)})
    accounts = Accounts(metadata=ACCOUNTS_SCHEMA)


class RolesIn(Schema):
    """An edit: the key's new roles (all of them). The name cannot be changed."""

    class Meta:
        unknown = RAISE

    roles = fields.List(fields.Nested(RoleIn), required=True)


class AccessKeyIn(RolesIn):
    name = fields.String(required=True, metadata={"maxLength": 100})
    expiration = fields.String(
        metadata={
            "enum": list(PRESETS),
            "description": "Calendar months; the default is 6m. Not with custom_days.",
        }
    )
    custom_days = fields.Raw(
        metadata={
            "type": "integer",
            "minimum": 1,
            "description": "Days until the key expires (at most ACCESS_KEY_MAX_CUSTOM_DAYS, "
            "730 by default). Not with expiration.",
        }
    )

    @pre_load
    def _object(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, dict):
            raise ValidationError("Send a JSON object")
        return data


class RoleOut(Schema):
    role = fields.String(required=True, metadata={"enum": list(KEY_ROLES)})
    accounts = fields.Raw(required=True, metadata=ACCOUNTS_SCHEMA)


class AccessKeyOut(Schema):
    """An access key as listed (never its JWT)."""

    id = fields.UUID(required=True)
    name = fields.String(required=True)
    roles = fields.List(fields.Nested(RoleOut), required=True)
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    expires_at = fields.String(
        required=True,
        metadata={"format": "date-time", "description": "Equals the JWT's exp claim."},
    )


class NewAccessKeyOut(AccessKeyOut):
    token = fields.String(
        required=True,
        metadata={
            "description": "The JWT (Authorization: Bearer). Shown this once; it cannot be "
            "retrieved later."
        },
    )


# The list is a bare array (reference §4.5).
ACCESS_KEY_LIST = {"type": "array", "items": {"$ref": "#/components/schemas/AccessKeyOut"}}
