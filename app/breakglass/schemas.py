"""What the platform routes accept and return (the OpenAPI document uses the same schemas).
No schema has a field for the master key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import Schema, fields, validate

from app.breakglass.platform import MAX_PER_PAGE
from app.clock import rfc3339


class Rfc3339(fields.DateTime):
    """A naive-UTC timestamp as RFC 3339 with ``Z`` (app.clock.rfc3339)."""

    def _serialize(
        self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any
    ) -> str | None:
        return None if value is None else rfc3339(value)


class BreakGlassStatusOut(Schema):
    enabled = fields.Boolean(required=True, metadata={"description": "BREAK_GLASS_ENABLED"})
    active = fields.Boolean(
        required=True,
        metadata={"description": "Enabled, a key of 32+ characters and before expires_at"},
    )
    expires_at = Rfc3339(required=True, allow_none=True)
    permissions = fields.List(fields.String(), required=True)
    tenants = fields.List(
        fields.UUID(),
        required=True,
        allow_none=True,
        metadata={"description": "The allowlist; null: any tenant of this region"},
    )
    requests_last_hour = fields.Integer(required=True)


class PlatformTenantQuery(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=25, validate=validate.Range(min=1, max=MAX_PER_PAGE))
    region = fields.String(validate=validate.Length(min=1, max=32))


class PlatformTenantOut(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    region = fields.String(required=True)
    features = fields.List(fields.String(), required=True)
    active = fields.Boolean(required=True)
    partner_tenant_id = fields.UUID(required=True, allow_none=True)
    created_at = Rfc3339(required=True)
    user_count = fields.Integer(required=True)


class PlatformPagination(Schema):
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total_count = fields.Integer(required=True)
    total_pages = fields.Integer(required=True)


class PlatformTenantPage(Schema):
    tenants = fields.List(fields.Nested(PlatformTenantOut), required=True)
    pagination = fields.Nested(PlatformPagination, required=True)
