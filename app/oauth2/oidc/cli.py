"""``flask keys``: the ID token signing keys. Prints one JSON object, like every command."""

from __future__ import annotations

import json
from typing import Any

import click
from flask.cli import AppGroup

from app.clock import rfc3339, utcnow
from app.errors import TollgateError
from app.oauth2.oidc import keys as signing_keys
from app.oauth2.oidc.models import SigningKey

keys = AppGroup("keys", help="OpenID Connect ID token signing keys.")


def _key_json(row: SigningKey) -> dict[str, Any]:
    described = signing_keys.describe(row, now=utcnow())
    return {
        name: rfc3339(value) if hasattr(value, "isoformat") else value
        for name, value in described.items()
    }


@keys.command("list")
def list_keys() -> None:
    """Every signing key: active, retired but still published, or expired."""
    signing_keys.ensure_keys(now=utcnow())
    click.echo(json.dumps({"keys": [_key_json(row) for row in signing_keys.all_keys()]}))


@keys.command("rotate")
def rotate() -> None:
    """A new signing key per algorithm signs from now on; the old ones stay published until
    every ID token they signed has expired (OIDC_ID_TOKEN_LIFETIME)."""
    try:
        created = signing_keys.rotate(now=utcnow())
    except TollgateError as exc:
        raise click.ClickException(str(exc.description)) from exc
    click.echo(json.dumps({"active": [_key_json(row) for row in created]}))
