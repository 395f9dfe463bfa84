"""Operator commands for external sign-in: ``flask sso providers add|list|remove``,
``flask sso identities list|block|unblock`` and ``flask invitations create``. Each prints one
JSON object on stdout on success; on failure a one-line error on stderr and a non-zero exit
(app.cli's contract)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import timedelta

import click
from flask import Flask
from flask.cli import AppGroup

from app.clock import rfc3339, utcnow
from app.errors import TollgateError
from app.identity import invitations as invitation_services
from app.identity.models import ROLES
from app.identity.users import find_by_email
from app.sso.services import identities, providers

sso = AppGroup("sso", help="Sign-in through external OpenID Connect providers.")
provider_commands = AppGroup("providers", help="OpenID Connect providers.")
identity_commands = AppGroup("identities", help="Users' identities at the providers.")
invitations = AppGroup("invitations", help="Pending e-mail invitations to a family.")
sso.add_command(provider_commands)
sso.add_command(identity_commands)


def register(app: Flask) -> None:
    app.cli.add_command(sso)
    app.cli.add_command(invitations)


def _emit(payload: Mapping[str, object]) -> None:
    click.echo(json.dumps(payload))


def _fail(exc: TollgateError) -> click.ClickException:
    return click.ClickException(str(exc.description))


@provider_commands.command("add")
@click.option("--key", required=True, help="URL segment: /auth/<key>")
@click.option("--issuer", required=True, help="The provider's issuer (discovery at its root)")
@click.option("--client-id", required=True)
@click.option(
    "--client-secret",
    required=True,
    prompt=True,
    hide_input=True,
    envvar="SSO_CLIENT_SECRET",
    help="Prompted for when omitted (or env SSO_CLIENT_SECRET); stored encrypted",
)
@click.option("--display-name", help='Shown as "Sign in with <display name>"')
@click.option("--scopes", default="openid email profile", show_default=True)
@click.option("--allowed-domains", default="", help="Space/comma separated; empty = any domain")
@click.option(
    "--jit-mode",
    type=click.Choice(providers.JIT_MODES),
    default="create_and_link",
    show_default=True,
)
@click.option("--default-role", type=click.Choice(ROLES), default="admin", show_default=True)
def add_provider(
    key: str,
    issuer: str,
    client_id: str,
    client_secret: str,
    display_name: str | None,
    scopes: str,
    allowed_domains: str,
    jit_mode: str,
    default_role: str,
) -> None:
    try:
        provider = providers.add_provider(
            key=key,
            issuer=issuer,
            client_id=client_id,
            client_secret=client_secret,
            display_name=display_name,
            scopes=scopes,
            allowed_domains=allowed_domains,
            jit_mode=jit_mode,
            default_role=default_role,
            now=utcnow(),
        )
    except TollgateError as exc:
        raise _fail(exc) from exc
    _emit(provider.public())


@provider_commands.command("list")
def list_providers() -> None:
    try:
        found = providers.list_providers()
    except TollgateError as exc:
        raise _fail(exc) from exc
    _emit({"providers": [provider.public() for provider in found]})


@provider_commands.command("remove")
@click.argument("key")
def remove_provider(key: str) -> None:
    try:
        providers.remove_provider(key, now=utcnow())
    except TollgateError as exc:
        raise _fail(exc) from exc
    _emit({"removed": key})


@identity_commands.command("list")
@click.option("--email", required=True, help="The user's email")
def list_identities(email: str) -> None:
    user = find_by_email(email)
    if user is None:
        raise click.ClickException("User not found")
    _emit(
        {"sso_identities": [identities.identity_json(r) for r in identities.identities_of(user.id)]}
    )


def _set_blocked(identity_id: str, blocked: bool) -> None:
    try:
        row = identities.get_identity(identity_id)
        changed = identities.set_blocked(row, blocked, now=utcnow())
    except TollgateError as exc:
        raise _fail(exc) from exc
    _emit(identities.identity_json(changed))


@identity_commands.command("block")
@click.argument("identity_id")
def block_identity(identity_id: str) -> None:
    """The identity signs nobody in until unblocked."""
    _set_blocked(identity_id, True)


@identity_commands.command("unblock")
@click.argument("identity_id")
def unblock_identity(identity_id: str) -> None:
    _set_blocked(identity_id, False)


@invitations.command("create")
@click.option("--email", required=True)
@click.option("--family", "family_id", required=True, help="The family (tenant) id to join")
@click.option("--role", type=click.Choice(ROLES), default="member", show_default=True)
@click.option("--days", type=click.IntRange(1, 365), default=7, show_default=True)
def create_invitation(email: str, family_id: str, role: str, days: int) -> None:
    """Whoever signs up with this address (e.g. through a provider) joins the family."""
    try:
        family = uuid.UUID(family_id)
    except ValueError as exc:
        raise click.ClickException("Family does not exist") from exc
    try:
        invitation = invitation_services.create_invitation(
            email=email, family_id=family, role=role, now=utcnow(), lifetime=timedelta(days=days)
        )
    except TollgateError as exc:
        raise _fail(exc) from exc
    _emit(
        {
            "id": str(invitation.id),
            "email": invitation.email,
            "family_id": str(invitation.family_id),
            "role": invitation.role,
            "expires_at": rfc3339(invitation.expires_at),
        }
    )
