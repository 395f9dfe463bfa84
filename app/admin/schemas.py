"""What the administration API accepts and returns (role grants, the tenant's users, their
API keys, the role catalogue, the tenant's settings)."""

from __future__ import annotations

from typing import Any

from marshmallow import (
    EXCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from app.admin.services import ASSIGNABLE_BASE_ROLES
from app.apikeys.models import SCOPES
from app.apikeys.schemas import ApiKeyIn, ApiKeyOut, Rfc3339
from app.identity.roles import GRANTED_ROLES


class RoleIn(Schema):
    class Meta:
        unknown = RAISE

    role = fields.String(required=True, validate=validate.OneOf(list(GRANTED_ROLES)))


class UserRolesOut(Schema):
    user_id = fields.UUID(required=True)
    email = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)


# --- tenant administration ------------------------------------------------------------------


class TenantUserOut(Schema):
    id = fields.UUID(required=True)
    email = fields.String(required=True)
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    role = fields.String(required=True, metadata={"description": "The base role"})
    granted_roles = fields.List(fields.String(), required=True)
    active = fields.Boolean(required=True)
    mfa_enabled = fields.Boolean(required=True)
    created_at = Rfc3339(required=True)


class TenantUserPage(Schema):
    users = fields.List(fields.Nested(TenantUserOut), required=True)
    pagination = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class UserPageQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=25, validate=validate.Range(min=1, max=100))


class JsonBoolean(fields.Boolean):
    """``true`` or ``false`` only: no "yes", 1 or "0" guessing on a status change."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class UserPatch(Schema):
    """A base-role change and/or a status change; at least one of them."""

    class Meta:
        unknown = RAISE

    role = fields.String(validate=validate.OneOf(ASSIGNABLE_BASE_ROLES))
    active = JsonBoolean()

    @validates_schema
    def _something(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError("nothing to change: send role and/or active")


class AdminApiKeyIn(ApiKeyIn):
    """A key an admin makes for a user: RedCloud's keys act as their user's role, so the
    scope defaults to read_write (C13); ``read`` keeps the key read-only."""

    scope = fields.String(load_default="read_write", validate=validate.OneOf(SCOPES))


class UserApiKeyOut(ApiKeyOut):
    user_id = fields.UUID(required=True)


class NewUserApiKeyOut(UserApiKeyOut):
    key = fields.String(required=True, metadata={"description": "Shown this once."})


class UserApiKeyList(Schema):
    api_keys = fields.List(fields.Nested(UserApiKeyOut), required=True)


class CatalogueRoleOut(Schema):
    name = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["base", "granted"]))
    description = fields.String(required=True)
    permissions = fields.List(fields.String(), required=True)
    built_in = fields.Boolean(required=True)
    assignable_by = fields.String(
        required=True, validate=validate.OneOf(["tenant_admin", "super_admin"])
    )


class RoleCatalogue(Schema):
    roles = fields.List(fields.Nested(CatalogueRoleOut), required=True)


class SettingsOut(Schema):
    tenant_id = fields.UUID(required=True, attribute="id")
    name = fields.String(required=True)
    kind = fields.String(required=True)
    region = fields.String(required=True)
    features = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "The plan's licensed features (platform data, read-only)"},
    )
    created_at = Rfc3339(required=True)


class SettingsPatch(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
