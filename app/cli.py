"""Operator commands: thin wrappers over services. Each prints one JSON object on stdout on
success; on failure a one-line error on stderr and a non-zero exit (a contract scripts and
tests depend on)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app.admin import services as admin_services
from app.apikeys import services as apikey_services
from app.apikeys.models import SCOPES, SOURCES, TIERS
from app.clock import rfc3339, utcnow
from app.errors import TollgateError
from app.firstparty import purge as user_purge
from app.firstparty import reset
from app.identity import grants, mfa
from app.identity import invitations as invitation_services
from app.identity import invites as invite_services
from app.identity import sessions as web_sessions
from app.identity import tenants as tenant_services
from app.identity import users as user_services
from app.identity.models import ROLES, Family, User
from app.identity.roles import FEATURES, GRANTED_ROLES
from app.mail import services as mail_services
from app.oauth2.models import OAuthClient
from app.oauth2.oidc.cli import keys as oidc_keys
from app.oauth2.services import clients as oauth2
from app.oauth2.services import purge as oauth2_purge
from app.partners import services as partner_services
from app.partners import tokens as partner_tokens
from app.resources import services as resources
from app.secretkeys.services import ip_restrictions as secretkey_restrictions
from app.secretkeys.services import keys as secretkeys_services
from app.secretkeys.services import tokens as secretkey_tokens
from app.sso import cli as sso_cli
from app.sso.services import codes as sso_codes

users = AppGroup("users", help="Manage users.")
apikeys = AppGroup("apikeys", help="Manage personal API keys.")
accounts = AppGroup("accounts", help="Manage demonstration resource accounts.")
invites = AppGroup("invites", help="Invite codes for signup.")
jobs = AppGroup("jobs", help="Background work.")
clients = AppGroup("clients", help="Manage OAuth clients.")
tokens = AppGroup("tokens", help="Housekeeping for codes and tokens.")
secretkeys = AppGroup("secretkeys", help="SureCloud secret keys.")
mail = AppGroup("mail", help="Outgoing mail: the outbox and its delivery.")
tenants = AppGroup("tenants", help="Tenants (families): their plan features.")


def _emit(payload: Mapping[str, object]) -> None:
    click.echo(json.dumps(payload))


def _fail(exc: TollgateError) -> click.ClickException:
    return click.ClickException(str(exc.description))


@users.command("create")
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--first-name")
@click.option("--last-name")
@click.option("--role", type=click.Choice(ROLES), default="member", show_default=True)
@click.option("--family-id", help="Join an existing family (tenant); default: a new family.")
@click.option(
    "--partner", is_flag=True, help="A Surfsight partner: an admin in a new partner tenant."
)
def create_user(
    email: str,
    password: str,
    first_name: str | None,
    last_name: str | None,
    role: str,
    family_id: str | None,
    partner: bool,
) -> None:
    """Create a user. Skips the signup complexity policy, not the minimum length."""
    if partner:
        _create_partner(email, password, first_name, last_name, family_id)
        return
    family: uuid.UUID | None = None
    if family_id:
        try:
            family = uuid.UUID(family_id)
        except ValueError as exc:
            raise click.ClickException("--family-id must be a UUID") from exc
    try:
        user = user_services.create_user(
            email=email,
            password=password,
            first_name=first_name,
            last_name=last_name,
            role=role,
            family_id=family,
            now=utcnow(),
        )
    except TollgateError as exc:
        raise _fail(exc) from exc
    _emit(
        {
            "id": str(user.id),
            "email": user.email,
            "family_id": str(user.family_id),
            "role": user.role,
        }
    )


def _create_partner(
    email: str, password: str, first_name: str | None, last_name: str | None, family_id: str | None
) -> None:
    """``users create --partner``: prints {"id", "email", "family_id", "partner": true}."""
    if family_id:
        raise click.ClickException("--partner creates a new partner tenant; drop --family-id")
    try:
        user = partner_services.create_partner_user(
            email=email, password=password, first_name=first_name, last_name=last_name, now=utcnow()
        )
    except TollgateError as exc:
        raise _fail(exc) from exc
    _emit(
        {"id": str(user.id), "email": user.email, "family_id": str(user.family_id), "partner": True}
    )


def _user_by_email(email: str) -> User:
    user = user_services.find_by_email(email)
    if user is None:
        raise click.ClickException(f"no user with email {email!r}")
    return user


@users.command("grant-role")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(list(GRANTED_ROLES)))
def grant_role(email: str, role: str) -> None:
    """Grant a role of the catalogue (as the platform operator: any role, the Secret Key
    Administrator included). Prints {"email", "roles"}."""
    user = _user_by_email(email)
    roles = grants.grant_role(user, role, granter=None, now=utcnow())
    _emit({"email": user.email, "roles": roles})


@users.command("revoke-role")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(list(GRANTED_ROLES)))
def revoke_role(email: str, role: str) -> None:
    """Revoke a granted role; applies to the user's next request. Prints {"email", "roles"}."""
    user = _user_by_email(email)
    roles = grants.revoke_role(user, role, granter=None, now=utcnow())
    _emit({"email": user.email, "roles": roles})


@users.command("set-ip-restrictions")
@click.option("--email", required=True)
@click.option(
    "--restrictions",
    required=True,
    help='Comma-separated IPs, ranges (a-b), CIDR blocks and hostnames; "" for none.',
)
def set_ip_restrictions(email: str, restrictions: str) -> None:
    """Where the user's secret-key JWTs may be used from (applies at once). Prints
    {"email", "entries"}."""
    user = _user_by_email(email)
    try:
        saved = secretkey_restrictions.set_restrictions(
            user, restrictions, actor_id=None, now=utcnow(), require_key=False
        )
    except TollgateError as exc:
        raise click.ClickException(
            "; ".join(exc.extra.get("errors") or [str(exc.description)])
        ) from exc
    _emit({"email": user.email, "entries": saved.entries})


@secretkeys.command("create")
@click.option("--email", required=True)
def create_secret_key(email: str) -> None:
    """Add a secret key for a user, as the platform operator: the reveal link goes to the
    user by mail (never to this output). Prints {"user_id", "status",
    "reveal_link_expires_at"}."""
    user = _user_by_email(email)
    try:
        # Without APP_URL the link names the embedded default's address (`flask serve`).
        sent = secretkeys_services.add_secret_key(
            user, actor_id=None, now=utcnow(), request_base_url="http://127.0.0.1:8000"
        )
    except TollgateError as exc:
        raise _fail(exc) from exc
    mail_services.deliver_pending(now=utcnow())
    _emit(
        {
            "user_id": str(sent.user_id),
            "status": sent.status,
            "reveal_link_expires_at": rfc3339(sent.reveal_link_expires_at),
        }
    )


@clients.command("create")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True)
@click.option("--public", is_flag=True, help="A public client (no secret; PKCE only).")
@click.option(
    "--grant-type",
    "grant_types",
    multiple=True,
    type=click.Choice(oauth2.GRANT_TYPES),
    help="Repeatable; default: authorization_code and refresh_token.",
)
@click.option("--scope", default="read", show_default=True)
@click.option("--first-party", is_flag=True, help="A first-party app (may use password).")
@click.option(
    "--post-logout-redirect-uri",
    "post_logout_redirect_uris",
    multiple=True,
    help="Repeatable; where OpenID Connect logout may return the browser.",
)
@click.option(
    "--id-token-signed-response-alg",
    type=click.Choice(oauth2.ID_TOKEN_ALGORITHMS),
    help="The ID token signature algorithm; default: OIDC_DEFAULT_SIGNING_ALG.",
)
def create_client(
    name: str,
    redirect_uris: tuple[str, ...],
    public: bool,
    grant_types: tuple[str, ...],
    scope: str,
    first_party: bool,
    post_logout_redirect_uris: tuple[str, ...],
    id_token_signed_response_alg: str | None,
) -> None:
    """Register an OAuth client. A confidential client's secret is printed this once."""
    try:
        created = oauth2.create_client(
            name=name,
            redirect_uris=list(redirect_uris),
            grant_types=list(grant_types) or ["authorization_code", "refresh_token"],
            scope=scope,
            public=public,
            first_party=first_party,
            post_logout_redirect_uris=list(post_logout_redirect_uris),
            id_token_signed_response_alg=id_token_signed_response_alg,
            now=utcnow(),
        )
    except TollgateError as exc:
        raise _fail(exc) from exc
    client = created.client
    payload: dict[str, Any] = {"client_id": client.client_id}
    if created.client_secret:
        payload["client_secret"] = created.client_secret
    payload.update(
        name=client.name,
        redirect_uris=client.redirect_uris,
        grant_types=client.grant_types,
        scope=client.scope,
        token_endpoint_auth_method=client.token_endpoint_auth_method,
        post_logout_redirect_uris=client.post_logout_redirect_uris,
        id_token_signed_response_alg=client.id_token_signed_response_alg,
    )
    _emit(payload)


def _client_json(client: OAuthClient) -> dict[str, Any]:
    """What an operator sees of a client: never its secret or digest."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "redirect_uris": client.redirect_uris,
        "grant_types": client.grant_types,
        "scope": client.scope,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "first_party": client.first_party,
        "dynamically_registered": client.dynamically_registered,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "disabled": client.disabled_at is not None,
        "created_at": rfc3339(client.created_at),
    }


@clients.command("list")
def list_clients() -> None:
    """Every client that was not deleted, disabled ones included."""
    _emit({"clients": [_client_json(c) for c in oauth2.list_clients()]})


@clients.command("disable")
@click.option("--client-id", required=True)
def disable_client(client_id: str) -> None:
    """Stop a client now: it cannot authenticate or be authorized and its tokens stop
    working (they work again after `enable`, unless they expired meanwhile)."""
    try:
        client = oauth2.disable_client(client_id, now=utcnow())
    except TollgateError as exc:
        raise _fail(exc) from exc
    _emit(_client_json(client))


@clients.command("enable")
@click.option("--client-id", required=True)
def enable_client(client_id: str) -> None:
    """Undo `disable`."""
    try:
        client = oauth2.enable_client(client_id, now=utcnow())
    except TollgateError as exc:
        raise _fail(exc) from exc
    _emit(_client_json(client))


@clients.command("delete")
@click.option("--client-id", required=True)
def delete_client(client_id: str) -> None:
    """Revoke every token and authorization code of a client; its client_id can never be
    used again (the row stays as a tombstone for the audit history)."""
    try:
        deleted = oauth2.delete_client(client_id, now=utcnow())
    except TollgateError as exc:
        raise _fail(exc) from exc
    _emit(
        {
            "client_id": client_id,
            "deleted": True,
            "revoked_tokens": deleted.revoked_tokens,
            "revoked_codes": deleted.revoked_codes,
            "revoked_api_keys": deleted.revoked_api_keys,
        }
    )


@users.command("mfa-enable")
@click.option("--email", required=True)
def mfa_enable(email: str) -> None:
    """Turn two-factor authentication on for a user: prints the TOTP secret and the backup
    codes (shown this once)."""
    user = user_services.find_by_email(email)
    if user is None:
        raise click.ClickException(f"no user with email {email}")
    _emit(mfa.enable_immediately(user, now=utcnow()))


@invites.command("create")
@click.option("--count", default=1, show_default=True, type=click.IntRange(1, 1000))
def create_invites(count: int) -> None:
    """Single-use signup invite codes (8 hex characters; stored as digests)."""
    _emit({"codes": invite_services.create_invite_codes(count, now=utcnow())})


@jobs.command("work")
def work() -> None:
    """Run every queued family reset now (e.g. after a restart), then purge the users
    deactivated at least DEACTIVATED_USER_PURGE_AFTER seconds ago."""
    _emit(
        {
            "reset_jobs_run": reset.run_queued(now=utcnow()),
            "users_purged": user_purge.purge_deactivated_users(now=utcnow()),
        }
    )


@apikeys.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--scope", required=True, type=click.Choice(SCOPES))
@click.option("--source", type=click.Choice(SOURCES), default="web", show_default=True)
@click.option("--tier", type=click.Choice(TIERS), default="standard", show_default=True)
def create_api_key(email: str, name: str, scope: str, source: str, tier: str) -> None:
    """Create a personal API key for a user; the key is printed this once."""
    user = user_services.find_by_email(email)
    if user is None:
        raise click.ClickException(f"no user with email {email}")
    try:
        created = apikey_services.create_api_key(
            user, name=name, scope=scope, source=source, tier=tier, now=utcnow()
        )
    except TollgateError as exc:
        raise _fail(exc) from exc
    key = created.api_key
    _emit(
        {
            "id": str(key.id),
            "name": key.name,
            "key": created.key,
            "scope": key.scope,
            "source": key.source,
            "tier": key.tier,
        }
    )


@accounts.command("create")
@click.option("--family-id", required=True)
@click.option("--name", required=True)
@click.option("--currency", default="USD", show_default=True)
@click.option("--balance", default="0", show_default=True)
@click.option("--type", "account_type", default="depository", show_default=True)
@click.option("--subtype", default=None)
@click.option("--status", default="active", show_default=True)
@click.option("--institution-name", default=None)
@click.option("--institution-domain", default=None)
def create_account(
    family_id: str,
    name: str,
    currency: str,
    balance: str,
    account_type: str,
    subtype: str | None,
    status: str,
    institution_name: str | None,
    institution_domain: str | None,
) -> None:
    """Create an account in a family (accounts are read-only through the API). --type is
    Sure's account type (depository, credit_card, loan, ...): it decides the classification."""
    try:
        family = uuid.UUID(family_id)
        amount = Decimal(balance)
    except (ValueError, InvalidOperation) as exc:
        raise click.ClickException("--family-id must be a UUID and --balance a number") from exc
    if not amount.is_finite() or abs(amount) >= Decimal(10) ** 15:
        raise click.ClickException("--balance is out of range")
    try:
        account = resources.create_account(
            family_id=family,
            name=name,
            currency=currency,
            balance=amount,
            now=utcnow(),
            account_type=account_type,
            subtype=subtype,
            status=status,
            institution_name=institution_name,
            institution_domain=institution_domain,
        )
    except TollgateError as exc:
        raise _fail(exc) from exc
    _emit(
        {
            "id": str(account.id),
            "family_id": str(account.family_id),
            "name": account.name,
            "currency": account.currency,
            "balance": str(account.balance),
            "account_type": account.account_type,
            "classification": account.classification,
            "status": account.status,
        }
    )


@tokens.command("purge")
@click.option("--batch-size", type=int, default=None)
def purge(batch_size: int | None) -> None:
    """Delete expired authorization codes, dead tokens, ended sessions and sent mail past
    MAIL_OUTBOX_RETENTION, in batches."""
    size = batch_size or current_app.config["TOKEN_PURGE_BATCH_SIZE"]
    if size < 1:
        raise click.ClickException("--batch-size must be at least 1")
    purged = oauth2_purge.purge_expired(now=utcnow(), batch_size=size)
    purged["web_sessions"] = web_sessions.purge_web_sessions(now=utcnow(), batch_size=size)
    purged.update(secretkey_tokens.purge_expired(now=utcnow(), batch_size=size))
    purged["mail_outbox"] = mail_services.purge_sent(now=utcnow(), batch_size=size)
    purged.update(partner_tokens.purge_expired(now=utcnow(), batch_size=size))
    purged.update(sso_codes.purge_expired(now=utcnow(), batch_size=size))
    purged.update(invitation_services.purge_expired(now=utcnow(), batch_size=size))
    _emit({"purged": purged})


@mail.command("outbox")
@click.option("--to", help="Only messages to this address.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10000))
def mail_outbox(to: str | None, limit: int) -> None:
    """The newest messages, decrypted: {"messages": [{"to", "subject", "body", "sent_at"}]}
    (sent_at null: pending). Bodies carry single-use links: treat the output as secret."""
    _emit({"messages": mail_services.outbox(to=to, limit=limit)})


@mail.command("deliver")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
def mail_deliver(limit: int) -> None:
    """Send pending messages now (failures are logged and stay pending): {"sent": n}."""
    _emit({"sent": mail_services.deliver_pending(now=utcnow(), limit=limit)})


def _tenant_id(family_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(family_id)
    except ValueError as exc:
        raise click.ClickException("--family-id must be a UUID") from exc


def _tenant_json(family: Family) -> dict[str, object]:
    return {"family_id": str(family.id), "features": list(family.features or [])}


@tenants.command("set-features")
@click.option("--family-id", required=True)
@click.option(
    "--features",
    required=True,
    help="Comma-separated, replacing the plan's ('' for none); known: "
    + ", ".join(sorted(FEATURES)),
)
def set_features(family_id: str, features: str) -> None:
    """Set a tenant's licensed plan features (platform data; audited). Prints
    {"family_id", "features"}."""
    wanted = [name.strip() for name in features.split(",") if name.strip()]
    try:
        family = tenant_services.set_features(_tenant_id(family_id), wanted, now=utcnow())
    except TollgateError as exc:
        raise _fail(exc) from exc
    _emit(_tenant_json(family))


@tenants.command("show")
@click.option("--family-id", required=True)
def show_tenant(family_id: str) -> None:
    """A tenant's plan features: {"family_id", "features"}."""
    try:
        family = admin_services.tenant_settings(_tenant_id(family_id))
    except TollgateError as exc:
        raise _fail(exc) from exc
    _emit(_tenant_json(family))


def register_cli(app: Flask) -> None:
    for group in (
        users,
        clients,
        tokens,
        apikeys,
        accounts,
        invites,
        jobs,
        mail,
        secretkeys,
        tenants,
        oidc_keys,
    ):
        app.cli.add_command(group)
    app.cli.add_command(serve)
    sso_cli.register(app)  # sso providers|identities, invitations


def worker_app() -> Flask:
    """A ``serve`` worker's app, built after the fork: the command already migrated, and what
    start-up loaded is frozen out of the garbage collector's walks (app/ops/heap.py)."""
    from app import create_app
    from app.ops.heap import freeze_startup_objects

    app = create_app({"AUTO_MIGRATE": False})
    freeze_startup_objects()
    return app


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve with gunicorn (sync workers). Each worker builds its own app after the fork."""
    from gunicorn.app.base import BaseApplication

    from app.ops import multiprocess

    multiprocess.prepare(current_app.instance_path)  # before gunicorn forks the workers
    json_logs = current_app.config["LOG_FORMAT"] == "json"
    database = current_app.config["SQLALCHEMY_DATABASE_URI"].split("@")[-1]
    click.echo(
        f"Tollgate is listening on http://{host}:{port}  (database: {database})\n"
        "Create the first admin in another terminal:\n"
        "  .venv/bin/flask --app wsgi users create --email you@example.com "
        "--password 'choose-a-long-one' --role super_admin\n"
        "then sign in at /login. Register an OAuth client with "
        "`.venv/bin/flask --app wsgi clients create --help`.",
        err=True,
    )

    class _Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            # LOG_FORMAT=json: the app writes a JSON access line itself.
            self.cfg.set("accesslog", None if json_logs else "-")
            self.cfg.set("child_exit", multiprocess.child_exit)

        def load(self):  # type: ignore[no-untyped-def]
            return worker_app()

    _Server().run()
