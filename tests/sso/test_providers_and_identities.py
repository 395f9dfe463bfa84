"""Providers (instance config and CLI-stored), identities and invitations, at the service
level and through the operator CLI (Flask's in-process runner)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.clock import utcnow
from tests.support.factories import UserInfo
from tests.support.sso import providers_add

ISSUER = "https://login.example.test"


def _add(app: Flask, **fields: Any) -> Any:
    from app.sso.services import providers

    with app.app_context():
        return providers.add_provider(
            now=utcnow(),
            **{
                "key": "corp",
                "issuer": ISSUER,
                "client_id": "tollgate",
                "client_secret": "the upstream secret",
                **fields,
            },
        )


def _identity(subject: str = "sub-1", email: str | None = "someone@corp.example", **kw: Any) -> Any:
    from app.sso.services.identities import UpstreamIdentity

    return UpstreamIdentity(
        provider=kw.get("provider", "corp"),
        issuer=kw.get("issuer", ISSUER),
        subject=subject,
        email=email,
        email_verified=kw.get("email_verified", True),
        first_name="Some",
        last_name="One",
    )


# --- providers --------------------------------------------------------------------------------


def test_a_stored_provider_keeps_its_secret_encrypted(app: Flask) -> None:
    from app.extensions import db
    from app.sso.models import SsoProvider
    from app.sso.services import providers

    _add(app, allowed_domains="corp.example, Other.Example", scopes="email profile")
    with app.app_context():
        row = db.session.scalar(select(SsoProvider))
        assert "the upstream secret" not in row.client_secret_encrypted
        found = providers.get_provider("CORP")
        assert found is not None
        assert found.client_secret == "the upstream secret"
        assert found.scopes == ("openid", "email", "profile")
        assert found.allowed_domains == ("corp.example", "other.example")
        assert (found.jit_mode, found.default_role, found.display_name) == (
            "create_and_link",
            "admin",
            "Corp",
        )
        assert "client_secret" not in found.public()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"key": "Bad Key"}, "Key must be"),
        ({"key": "login"}, "reserved"),
        ({"issuer": "http://login.example.test"}, "Issuer must be an https URL"),
        ({"client_id": " "}, "Client id is required"),
        ({"client_secret": ""}, "Client secret is required"),
        ({"jit_mode": "sometimes"}, "JIT mode must be one of"),
        ({"default_role": "owner"}, "Default role must be one of"),
        ({"allowed_domains": "not a domain!"}, "Invalid allowed domain"),
    ],
)
def test_an_invalid_provider_is_refused_whole(
    app: Flask, fields: dict[str, Any], message: str
) -> None:
    from app.extensions import db
    from app.sso.errors import InvalidProvider
    from app.sso.models import SsoProvider

    with pytest.raises(InvalidProvider, match=message):
        _add(app, **fields)
    with app.app_context():
        assert db.session.scalar(select(SsoProvider)) is None


def test_an_issuer_is_kept_exactly_as_given(app: Flask) -> None:
    """An ID token's iss must equal the issuer character for character, and some issuers end
    in a slash: it is kept; discovery is at the issuer's root either way."""
    from app.sso.services import providers

    slash = providers.build_provider(
        key="a", issuer="https://tenant.auth.example/", client_id="c", client_secret="s"
    )
    plain = providers.build_provider(
        key="b", issuer="https://tenant.auth.example", client_id="c", client_secret="s"
    )
    assert slash.issuer == "https://tenant.auth.example/"
    assert (
        slash.discovery_url
        == plain.discovery_url
        == ("https://tenant.auth.example/.well-known/openid-configuration")
    )


def test_config_providers_come_first_and_win_their_key(app: Flask) -> None:
    from app.sso.errors import InvalidProvider
    from app.sso.services import providers

    _add(app, key="stored")
    app.config["SSO_PROVIDERS"] = [
        {"key": "configured", "issuer": ISSUER, "client_id": "a", "client_secret": "b"}
    ]
    with app.app_context():
        assert [p.key for p in providers.list_providers()] == ["configured", "stored"]
    with pytest.raises(InvalidProvider, match="exists already"):
        _add(app, key="configured")
    with app.app_context(), pytest.raises(InvalidProvider, match="instance config"):
        providers.remove_provider("configured", now=utcnow())


def test_a_broken_config_provider_is_logged_and_left_out(
    app: Flask, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken SSO_PROVIDERS entry cannot take the sign-in page down: it is left out (the
    log names it) and the others still work."""
    from app.sso.services import providers

    app.config["SSO_PROVIDERS"] = [
        {"key": "half", "issuer": ISSUER},
        "not even a dict",
        {"key": "whole", "issuer": ISSUER, "client_id": "a", "client_secret": "b"},
    ]
    with app.app_context():
        assert [p.key for p in providers.list_providers()] == ["whole"]
        assert providers.get_provider("half") is None
    assert "SSO_PROVIDERS entry 'half' is ignored" in caplog.text
    page = client.get("/login")
    assert page.status_code == 200
    assert 'action="/auth/whole"' in page.get_data(as_text=True)


def test_a_stored_provider_whose_secret_no_longer_decrypts_is_left_out(
    app: Flask, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from cryptography.fernet import Fernet

    from app.sso.services import providers

    _add(app)
    app.config["ENCRYPTION_KEYS"] = Fernet.generate_key().decode()  # the old key is gone
    with app.app_context():
        assert providers.list_providers() == []
        assert providers.get_provider("corp") is None
    assert "cannot be decrypted" in caplog.text
    assert client.get("/login").status_code == 200


def test_sso_providers_from_the_environment_are_a_json_array(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flask import Flask as App

    from app.config import load_config

    entry = {"key": "env", "issuer": ISSUER, "client_id": "a", "client_secret": "b"}
    monkeypatch.setenv("SSO_PROVIDERS", json.dumps([entry]))
    monkeypatch.setenv("OAUTH2_RESOURCE_PATHS", "/api/v1 /api/v2")
    probe = App("probe")
    load_config(probe, {"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert probe.config["SSO_PROVIDERS"] == [entry]
    assert probe.config["OAUTH2_RESOURCE_PATHS"] == ["/api/v1", "/api/v2"]  # words stay words


def test_an_authlib_client_is_registered_lazily_and_again_when_the_provider_changes(
    app: Flask,
) -> None:
    from app.sso.services import providers

    _add(app)
    with app.test_request_context():
        first = providers.oauth_client(providers.require_provider("corp"))
        assert first is providers.oauth_client(providers.require_provider("corp"))
        assert first.client_kwargs["code_challenge_method"] == "S256"
        providers.remove_provider("corp", now=utcnow())
    _add(app, client_id="rotated")
    with app.test_request_context():
        second = providers.oauth_client(providers.require_provider("corp"))
        assert second is not first
        assert second.client_id == "rotated"


# --- identities -------------------------------------------------------------------------------


def test_links_are_found_by_issuer_and_subject_never_by_email(app: Flask, make_user: Any) -> None:
    from app.extensions import db
    from app.identity.models import User
    from app.sso.services import identities

    owner: UserInfo = make_user("someone@corp.example")
    with app.app_context():
        assert identities.find_link(_identity()) is None  # same email, nothing linked
        identities.link(db.session.get(User, owner.id), _identity(), now=utcnow())
        assert identities.find_link(_identity(email="else@else.example")).user_id == owner.id
        assert identities.find_link(_identity(subject="sub-2")) is None
        assert identities.find_link(_identity(issuer="https://other.example")) is None


def test_an_identity_links_to_one_user_only(app: Flask, make_user: Any) -> None:
    from app.extensions import db
    from app.identity.models import User
    from app.sso.errors import IdentityAlreadyLinked
    from app.sso.services import identities
    from app.sso.services.identities import IdentityBlocked

    one, two = make_user(), make_user()
    with app.app_context():
        first = identities.link(db.session.get(User, one.id), _identity(), now=utcnow())
        again = identities.link(db.session.get(User, one.id), _identity(), now=utcnow())
        assert again.id == first.id
        with pytest.raises(IdentityAlreadyLinked):
            identities.link(db.session.get(User, two.id), _identity(), now=utcnow())
        identities.set_blocked(first, True, now=utcnow())
        assert identities.is_blocked(_identity())
        assert identities.linked_user(_identity()) is None
        with pytest.raises(IdentityBlocked):
            identities.link(db.session.get(User, one.id), _identity(), now=utcnow())


def test_allow_account_creation(app: Flask, make_user: Any) -> None:
    from app.identity import invitations
    from app.sso.services import accounts, providers

    family = make_user().family_id
    with app.app_context():
        now = utcnow()
        jit = providers.build_provider(key="a", issuer=ISSUER, client_id="c", client_secret="s")
        narrow = providers.build_provider(
            key="b",
            issuer=ISSUER,
            client_id="c",
            client_secret="s",
            allowed_domains=["corp.example"],
        )
        link_only = providers.build_provider(
            key="c", issuer=ISSUER, client_id="c", client_secret="s", jit_mode="link_only"
        )
        assert accounts.allow_account_creation(jit, "x@anything.example", now=now)
        assert accounts.allow_account_creation(narrow, "x@corp.example", now=now)
        assert not accounts.allow_account_creation(narrow, "x@sub.corp.example", now=now)
        assert not accounts.allow_account_creation(link_only, "x@corp.example", now=now)
        assert not accounts.allow_account_creation(jit, None, now=now)
        invitations.create_invitation(email="X@Corp.example", family_id=family, now=now)
        assert accounts.has_pending_invitation("x@corp.example", now=now)
        assert accounts.allow_account_creation(link_only, "x@corp.example", now=now)
        later = now + invitations.DEFAULT_LIFETIME
        assert not accounts.has_pending_invitation("x@corp.example", now=later)
        assert not accounts.allow_account_creation(link_only, "x@corp.example", now=later)


def test_create_account_refuses_what_it_must(app: Flask, make_user: Any) -> None:
    from app.sso.errors import AccountCreationNotAllowed
    from app.sso.services import accounts, identities, providers

    make_user("taken@corp.example")
    with app.app_context():
        jit = providers.build_provider(key="a", issuer=ISSUER, client_id="c", client_secret="s")
        for identity in (
            _identity(email="taken@corp.example"),  # an existing account: link, never create
            _identity(email="new@corp.example", email_verified=False),
            _identity(email=None),
        ):
            with pytest.raises(AccountCreationNotAllowed):
                accounts.create_account(
                    jit, identity, first_name=None, last_name=None, now=utcnow()
                )
        assert identities.find_link(_identity()) is None


def test_create_account_roles(app: Flask, make_user: Any) -> None:
    from app.sso.services import accounts, providers

    make_user()  # not the first user of the deployment
    with app.app_context():
        plain = providers.build_provider(key="a", issuer=ISSUER, client_id="c", client_secret="s")
        boss = providers.build_provider(
            key="b", issuer=ISSUER, client_id="c", client_secret="s", default_role="super_admin"
        )
        one = accounts.create_account(
            plain,
            _identity("s1", "one@corp.example"),
            first_name="One",
            last_name=None,
            now=utcnow(),
        )
        two = accounts.create_account(
            boss, _identity("s2", "two@corp.example"), first_name=None, last_name=None, now=utcnow()
        )
        assert (one.role, two.role) == ("admin", "super_admin")
        assert one.password_hash is None
        assert one.family.name == "One's family"


def test_create_account_for_an_invitation_is_audited_with_its_origin(
    app: Flask, make_user: Any
) -> None:
    """The invitation's family and role; ``user.created`` says it came through SSO (which
    provider, which invitation), then ``sso.identity_linked``, both for the new user."""
    from app.audit.models import AuditEvent
    from app.extensions import db
    from app.identity import invitations
    from app.sso.services import accounts, providers

    family = make_user().family_id
    with app.app_context():
        now = utcnow()
        link_only = providers.build_provider(
            key="c", issuer=ISSUER, client_id="c", client_secret="s", jit_mode="link_only"
        )
        invitation = invitations.create_invitation(
            email="guest@corp.example", family_id=family, role="member", now=now
        )
        user = accounts.create_account(
            link_only,
            _identity("s3", "guest@corp.example"),
            first_name=None,
            last_name=None,
            now=now,
        )
        assert (user.family_id, user.role, user.password_hash) == (family, "member", None)
        events = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.actor_user_id == user.id)
            .where(AuditEvent.event.in_(("user.created", "sso.identity_linked")))
            .order_by(AuditEvent.id)
        ).all()
        assert [(e.event, e.family_id) for e in events] == [
            ("user.created", family),
            ("sso.identity_linked", family),
        ]
        assert events[0].details == {
            "role": "member",
            "via": "sso",
            "provider": "corp",
            "invitation_id": str(invitation.id),
        }
        assert not accounts.has_pending_invitation("guest@corp.example", now=now)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("sso_provider_unavailable", "sso_provider_unavailable"),
        ("sso_invalid_response", "sso_invalid_response"),
        ("sso_failed", "sso_failed"),
        ("timeout", "sso_provider_unavailable"),
        ("csrf_detected", "sso_invalid_response"),
        ("invalid_credentials", "sso_invalid_response"),
        ("access_denied", "sso_failed"),
        ("<script>", "sso_failed"),
        (None, "sso_failed"),
    ],
)
def test_sanitize_failure(raw: str | None, reason: str) -> None:
    from app.sso.services.identities import sanitize_failure

    assert sanitize_failure(raw) == reason


# --- CLI --------------------------------------------------------------------------------------


def _cli(app: Flask, *args: str, input: str | None = None) -> Any:
    return app.test_cli_runner().invoke(args=list(args), input=input)


def test_cli_providers_add_list_remove(app: Flask) -> None:
    added = _cli(
        app,
        *providers_add(
            "corp",
            ISSUER,
            "tollgate",
            display_name="Corp SSO",
            allowed_domains="corp.example",
            jit_mode="link_only",
            default_role="member",
        ),
        input="prompted secret\nprompted secret\n",
    )
    assert added.exit_code == 0, added.stderr
    printed = json.loads(added.stdout.splitlines()[-1])
    assert printed == {
        "key": "corp",
        "display_name": "Corp SSO",
        "issuer": ISSUER,
        "client_id": "tollgate",
        "scopes": ["openid", "email", "profile"],
        "allowed_domains": ["corp.example"],
        "jit_mode": "link_only",
        "default_role": "member",
    }
    with app.app_context():
        from app.sso.services import providers

        assert providers.require_provider("corp").client_secret == "prompted secret"
    listed = _cli(app, "sso", "providers", "list")
    assert json.loads(listed.stdout)["providers"] == [printed]
    again = _cli(app, *providers_add("corp", ISSUER, "x", client_secret="y"))
    assert again.exit_code == 1
    assert "exists already" in again.stderr
    assert _cli(app, "sso", "providers", "remove", "corp").exit_code == 0
    assert json.loads(_cli(app, "sso", "providers", "list").stdout) == {"providers": []}
    missing = _cli(app, "sso", "providers", "remove", "corp")
    assert (missing.exit_code, missing.stdout) == (1, "")


def test_cli_identities_block_and_unblock(app: Flask, make_user: Any) -> None:
    from app.audit.models import AuditEvent
    from app.extensions import db
    from app.identity.models import User
    from app.sso.services import identities

    owner = make_user("owner@corp.example")
    with app.app_context():
        row = identities.link(db.session.get(User, owner.id), _identity(), now=utcnow())
        identity_id = str(row.id)
    listed = json.loads(_cli(app, "sso", "identities", "list", "--email", owner.email).stdout)
    assert [i["id"] for i in listed["sso_identities"]] == [identity_id]
    blocked = _cli(app, "sso", "identities", "block", identity_id)
    assert json.loads(blocked.stdout)["blocked"] is True
    with app.app_context():
        assert identities.is_blocked(_identity())
        events = db.session.scalars(
            select(AuditEvent.event).where(AuditEvent.event.like("sso.identity_%"))
        ).all()
        assert sorted(events) == ["sso.identity_blocked", "sso.identity_linked"]
    assert (
        json.loads(_cli(app, "sso", "identities", "unblock", identity_id).stdout)["blocked"]
        is False
    )
    unknown = _cli(app, "sso", "identities", "block", str(uuid.uuid4()))
    assert unknown.exit_code == 1
    assert "not found" in unknown.stderr


def test_cli_invitations_create(app: Flask, make_user: Any) -> None:
    family = make_user(role="admin").family_id
    made = _cli(
        app,
        "invitations",
        "create",
        "--email",
        " New@Corp.example ",
        "--family",
        str(family),
        "--role",
        "member",
    )
    assert made.exit_code == 0, made.stderr
    printed = json.loads(made.stdout)
    assert (printed["email"], printed["family_id"], printed["role"]) == (
        "new@corp.example",
        str(family),
        "member",
    )
    for bad in (["--family", "nope"], ["--family", str(uuid.uuid4())]):
        refused = _cli(app, "invitations", "create", "--email", "a@b.example", *bad)
        assert refused.exit_code == 1
        assert "Family does not exist" in refused.stderr
