"""What the API-key management API accepts and returns; the OpenAPI document is generated from
the same schemas, so the API-key JSON is dumped by the schema that documents it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import RAISE, Schema, fields, pre_load, validate

from app.apikeys.models import SCOPES, SOURCES
from app.clock import rfc3339


class Rfc3339(fields.DateTime):
    """A naive-UTC timestamp as RFC 3339 with ``Z`` (app.clock.rfc3339), the wire format of
    times in JSON bodies."""

    def _serialize(
        self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any
    ) -> str | None:
        return None if value is None else rfc3339(value)


class OneScope(fields.List):
    """Sure's ``scopes`` list, from the key's single scope."""

    def _serialize(
        self, value: Any, attr: str | None, obj: Any, **kwargs: Any
    ) -> list[Any | None] | None:
        return None if value is None else super()._serialize([value], attr, obj, **kwargs)


class ApiKeyIn(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    scope = fields.String(required=True, validate=validate.OneOf(SCOPES))
    source = fields.String(load_default="web", validate=validate.OneOf(SOURCES))
    expires_in_days = fields.Integer(validate=validate.Range(min=1, max=3650))

    @pre_load
    def _sure_scopes(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # Sure's form sends api_key[scopes]; accept "scopes" (a string or a one-item list).
        if isinstance(data, dict) and "scopes" in data and "scope" not in data:
            data = dict(data)
            scopes = data.pop("scopes")
            data["scope"] = scopes[0] if isinstance(scopes, list) and len(scopes) == 1 else scopes
        return data


class ApiKeyOut(Schema):
    """An API key as shown to its owner (never the key itself), and as the gate describes the
    key a request came with (the principal's details)."""

    id = fields.UUID(required=True)
    name = fields.String(required=True)
    scope = fields.String(required=True)
    scopes = OneScope(fields.String(), attribute="scope", dump_only=True, required=True)
    source = fields.String(required=True)
    tier = fields.String(required=True)
    display_prefix = fields.String(required=True)
    created_at = Rfc3339(required=True)
    expires_at = Rfc3339(allow_none=True)
    last_used_at = Rfc3339(allow_none=True)
    revoked_at = Rfc3339(allow_none=True)


class NewApiKeyOut(ApiKeyOut):
    key = fields.String(required=True, metadata={"description": "Shown this once."})


ApiKeyList = Schema.from_dict(
    {"api_keys": fields.List(fields.Nested(ApiKeyOut))}, name="ApiKeyList"
)
