"""What the organisation API documents and accepts. The name rules (required, trimmed, at most
200 characters) are the service's, so the API and the page refuse the same names with the
same words; these schemas describe the shapes for the OpenAPI document."""

from __future__ import annotations

from marshmallow import Schema, fields

from app.partners.models import NAME_MAX_LENGTH


class OrganizationIn(Schema):
    name = fields.Raw(
        required=True,
        metadata={"type": "string", "minLength": 1, "maxLength": NAME_MAX_LENGTH},
    )


class RotateIn(Schema):
    revoke_tokens = fields.Boolean(
        load_default=True,
        metadata={
            "description": "Revoke the organization's outstanding admin tokens (default true)"
        },
    )


class OrganizationOut(Schema):
    """An organisation as listed: never its ssoSecret."""

    organizationId = fields.UUID(required=True)  # the seed's spelling (002.25)
    name = fields.String(required=True)
    created_at = fields.String(required=True, metadata={"format": "date-time"})


class NewOrganizationOut(OrganizationOut):
    ssoSecret = fields.String(
        required=True,
        metadata={
            "description": "Sign the HS256 SSO assertion with this string's UTF-8 bytes. Shown "
            "this once: it is not stored and cannot be retrieved later (rotate to replace it)."
        },
    )


class RotatedSecretOut(Schema):
    organizationId = fields.UUID(required=True)
    ssoSecret = fields.String(
        required=True, metadata={"description": "The new ssoSecret, shown this once."}
    )


class AdminTokenOut(Schema):
    token = fields.String(
        required=True,
        metadata={
            "format": "uuid",
            "description": "The organisation admin token (Authorization: Bearer), shown once",
        },
    )
    expires_in = fields.Integer(required=True, metadata={"description": "Seconds (86400)"})
    expires_at = fields.String(required=True, metadata={"format": "date-time"})


ORGANIZATION_LIST = {"type": "array", "items": {"$ref": "#/components/schemas/OrganizationOut"}}
