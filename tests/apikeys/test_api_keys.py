"""Personal API keys: the JSON management API, the key's life (Sure contract §5, the model tests
of §7.6 that make sense from the outside), one active key per source under concurrency, and the
``flask apikeys create`` command.

Keys are managed by the account holder: in a browser session (writes send the CSRF token, as
the API explorer does) or with a first-party app's token (Sure's device token); never with an
API key, and never by a third-party app, whatever its scope.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text, update

from app import create_app
from app.clock import utcnow
from tests.support import cli as support_cli
from tests.support.config import base_config
from tests.support.database import requires_postgres
from tests.support.factories import ClientInfo, UserInfo
from tests.support.http import error_body
from tests.support.oauth import authorize, exchange_code

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KEY_RE = re.compile(r"^tgk_[A-Za-z0-9_-]{43}$")
UNAUTHORIZED = {
    "error": "unauthorized",
    "message": "Access token or API key is invalid, expired, or missing",
}
NOT_FOUND = {"error": "record_not_found", "message": "The requested resource was not found"}
DESCRIBED = {
    "id",
    "name",
    "scope",
    "scopes",
    "source",
    "tier",
    "display_prefix",
    "created_at",
    "expires_at",
    "last_used_at",
    "revoked_at",
}


def api_key(value: str) -> dict[str, str]:
    return {"X-Api-Key": value}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_time(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value.removesuffix("Z"))


def works(client: FlaskClient, key: str) -> bool:
    status = client.get("/api/v1/usage", headers=api_key(key)).status_code
    assert status in (200, 401), status
    return status == 200


# --- set-up helpers -----------------------------------------------------------------------------


class Browser:
    """A signed-in browser driving the JSON API as the explorer does (CSRF header on writes)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        page = client.get("/api/docs").get_data(as_text=True)
        match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
        assert match, "the explorer page has no csrf-token meta tag"
        self.headers = {"X-CSRFToken": match.group(1)}

    def list(self):  # type: ignore[no-untyped-def]
        return self.client.get("/api/v1/api_keys")

    def create(self, **body: Any):  # type: ignore[no-untyped-def]
        return self.client.post("/api/v1/api_keys", json=body, headers=self.headers)

    def revoke(self, key_id: str):  # type: ignore[no-untyped-def]
        return self.client.delete(f"/api/v1/api_keys/{key_id}", headers=self.headers)

    def new_key(
        self, name: str = "laptop", scope: str = "read_write", **extra: Any
    ) -> dict[str, Any]:
        response = self.create(name=name, scope=scope, **extra)
        assert response.status_code == 201, response.get_json()
        return response.get_json()


@pytest.fixture
def browser(signed_in: FlaskClient) -> Browser:
    return Browser(signed_in)


@pytest.fixture
def api(app: Flask) -> FlaskClient:
    """No session cookie: only the headers a test sends authenticate."""
    return app.test_client()


@pytest.fixture
def make_key(app: Flask) -> Callable[..., dict[str, Any]]:
    """A key made through the service: {"id", "key", "name"}."""
    from app.apikeys import services
    from app.extensions import db
    from app.identity.models import User

    counter = iter(range(1, 10_000))

    def factory(
        owner: UserInfo,
        name: str | None = None,
        scope: str = "read_write",
        source: str = "web",
        tier: str = "standard",
    ) -> dict[str, Any]:
        name = name or f"service key {next(counter)}"
        with app.app_context():
            created = services.create_api_key(
                db.session.get(User, owner.id),
                name=name,
                scope=scope,
                source=source,
                tier=tier,
                now=utcnow(),
            )
            return {"id": str(created.api_key.id), "key": created.key, "name": name}

    return factory


def set_key(app: Flask, key_id: str, **values: Any) -> None:
    from app.apikeys.models import ApiKey
    from app.extensions import db

    with app.app_context():
        db.session.execute(update(ApiKey).where(ApiKey.id == uuid.UUID(key_id)).values(**values))
        db.session.commit()


def active_keys(app: Flask, user_id: uuid.UUID, source: str | None = None) -> list[Any]:
    from app.apikeys.models import ApiKey
    from app.extensions import db

    with app.app_context():
        query = select(ApiKey.id, ApiKey.name, ApiKey.source).where(
            ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None)
        )
        if source is not None:
            query = query.where(ApiKey.source == source)
        return list(db.session.execute(query).all())


def oauth_token(client: FlaskClient, oauth: ClientInfo, scope: str) -> str:
    auth = authorize(client, oauth, scope=scope)
    response = exchange_code(client, oauth, auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


@pytest.fixture
def stranger(make_user: Callable[..., UserInfo]) -> UserInfo:
    return make_user(email="mallory@example.net")


# --- creating, showing once, listing --------------------------------------------------------------


def test_create_returns_the_key_once(api, browser) -> None:
    response = browser.create(name="laptop", scope="read_write")
    assert response.status_code == 201, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    created = response.get_json()
    assert set(created) == DESCRIBED | {"key"}
    key = created["key"]
    assert KEY_RE.match(key), key  # tgk_ + 32 random bytes (256 bits), base64url
    assert created["name"] == "laptop"
    assert created["scope"] == "read_write" and created["scopes"] == ["read_write"]
    assert created["source"] == "web" and created["tier"] == "standard"
    assert created["display_prefix"] == key[:12]
    assert created["expires_at"] is None and created["revoked_at"] is None
    assert created["last_used_at"] is None
    assert abs(parse_time(created["created_at"]) - utcnow()) < timedelta(seconds=5)
    uuid.UUID(created["id"])

    listed = browser.list()
    assert listed.status_code == 200
    assert listed.get_json() == {"api_keys": [{k: v for k, v in created.items() if k != "key"}]}
    assert key not in listed.get_data(as_text=True)
    assert key[12:] not in listed.get_data(as_text=True)
    assert works(api, key)


def test_the_creation_event_names_the_key(app, browser) -> None:
    created = browser.create(name="audited", scope="read").get_json()
    from app.audit.models import AuditEvent
    from app.extensions import db

    with app.app_context():
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "api_key.created")
        ).one()
    assert event.details["api_key_id"] == created["id"]
    assert created["key"] not in json.dumps(event.details)


def test_keys_are_distinct(browser) -> None:
    keys = {
        browser.new_key(name=f"k{n}", source=source)["key"]
        for n, source in enumerate(("web", "mobile", "monitoring"))
    }
    assert len(keys) == 3


def test_list_is_newest_first_and_empty_at_first(browser) -> None:
    assert browser.list().get_json() == {"api_keys": []}
    first = browser.new_key(name="first", source="web")
    second = browser.new_key(name="second", source="mobile")
    names = [k["name"] for k in browser.list().get_json()["api_keys"]]
    assert names == [second["name"], first["name"]]


@pytest.mark.parametrize(
    "body",
    [
        {"api_key": {"name": "sure form", "scopes": ["read"]}},
        {"name": "sure scopes", "scopes": ["read"]},
        {"name": "sure string", "scopes": "read"},
        {"api_key": {"name": "wrapped", "scope": "read", "source": "monitoring"}},
    ],
)
def test_create_accepts_sure_shapes(browser, body) -> None:
    response = browser.client.post("/api/v1/api_keys", json=body, headers=browser.headers)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["scopes"] == ["read"]


@pytest.mark.parametrize(
    "body",
    [
        {"scope": "read"},
        {"name": "", "scope": "read"},
        {"name": "   ", "scope": "read"},
        {"name": "x" * 101, "scope": "read"},
        {"name": "no scope"},
        {"name": "bad scope", "scope": "write"},
        {"name": "bad scope", "scope": "admin"},
        {"name": "two scopes", "scopes": ["read", "read_write"]},
        {"name": "empty scopes", "scopes": []},
        {"name": "bad source", "scope": "read", "source": "desktop"},
        {"name": "tier", "scope": "read", "tier": "enterprise"},  # tiers are an operator's choice
        {"name": "days", "scope": "read", "expires_in_days": 0},
        {"name": "days", "scope": "read", "expires_in_days": -1},
        {"name": "days", "scope": "read", "expires_in_days": 3651},
        {"name": "days", "scope": "read", "expires_in_days": "soon"},
        {"name": None, "scope": "read"},
        {"name": ["x"], "scope": "read"},
        {"name": "unknown", "scope": "read", "owner": "someone else"},
    ],
)
def test_invalid_creation_is_422(browser, body) -> None:
    response = browser.create(**body)
    assert response.status_code == 422, response.get_json()
    payload = response.get_json()
    assert payload["error"] == "validation_failed"
    assert payload["errors"] and all(isinstance(m, str) for m in payload["errors"])
    assert browser.list().get_json() == {"api_keys": []}


def test_blank_name_says_so(browser) -> None:
    response = browser.create(name="   ", scope="read")
    assert response.get_json()["errors"] == ["Name can't be blank"]


@pytest.mark.parametrize("raw", [b"", b"[]", b'"x"', b"null", b"{", b'{"api_key": 1}'])
def test_body_that_is_not_an_object_is_refused(browser, raw) -> None:
    response = browser.client.post(
        "/api/v1/api_keys",
        data=raw,
        headers={**browser.headers, "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422), response.get_json()
    assert response.get_json()["error"] in ("bad_request", "validation_failed")


def test_expires_in_days(app, api, browser) -> None:
    created = browser.new_key(name="temporary", expires_in_days=30)
    expires = parse_time(created["expires_at"])
    assert abs(expires - (utcnow() + timedelta(days=30))) < timedelta(seconds=10)
    assert works(api, created["key"])


# --- storage ------------------------------------------------------------------------------------


def test_only_a_digest_is_stored(app, browser, make_key, user) -> None:
    keys = [browser.new_key(name="browser key")["key"], make_key(user, source="mobile")["key"]]
    with app.app_context():
        from app.extensions import db

        stored = {
            table: [
                tuple(str(v) for v in row)
                for row in db.session.execute(text(f"SELECT * FROM {table}"))
            ]
            for table in ("api_keys", "audit_events")
        }
        digests = set(db.session.scalars(text("SELECT key_digest FROM api_keys")))
    assert len(stored["api_keys"]) == 2
    for key in keys:
        assert digest(key) in digests
        for table, rows in stored.items():
            for row in rows:
                for value in row:
                    assert key not in value, (table, value)
                    assert key[12:] not in value, (table, value)  # past the display prefix


# --- one active key per source ------------------------------------------------------------------


def test_a_new_key_replaces_the_sources_previous_key(api, browser) -> None:
    old_web = browser.new_key(name="old web", source="web")
    mobile = browser.new_key(name="phone", source="mobile")
    new_web = browser.new_key(name="new web", source="web")
    assert not works(api, old_web["key"])
    assert works(api, new_web["key"])
    assert works(api, mobile["key"])  # other sources are unaffected
    names = {k["name"] for k in browser.list().get_json()["api_keys"]}
    assert names == {"new web", "phone"}


def test_one_active_key_per_source_three_sources(app, api, browser, user) -> None:
    made = {s: browser.new_key(name=f"{s} key", source=s) for s in ("web", "mobile", "monitoring")}
    assert all(works(api, m["key"]) for m in made.values())
    assert sorted(r.source for r in active_keys(app, user.id)) == ["mobile", "monitoring", "web"]


def test_replacement_by_the_service_too(app, api, user, make_key) -> None:
    first = make_key(user, source="monitoring")
    second = make_key(user, source="monitoring")
    assert not works(api, first["key"])
    assert works(api, second["key"])
    assert [r.name for r in active_keys(app, user.id, "monitoring")] == [second["name"]]


def test_duplicate_active_name_is_422_and_changes_nothing(api, browser) -> None:
    web = browser.new_key(name="shared name", source="web")
    phone = browser.new_key(name="phone", source="mobile")
    response = browser.create(name="shared name", scope="read", source="mobile")
    assert response.status_code == 422
    assert error_body(response) == {
        "error": "validation_failed",
        "message": "Name has already been taken",
        "errors": ["Name has already been taken"],
    }
    # The refused creation did not retire the mobile key it would have replaced.
    assert works(api, phone["key"]) and works(api, web["key"])
    assert {k["name"] for k in browser.list().get_json()["api_keys"]} == {"shared name", "phone"}


def test_same_name_same_source_replaces(api, browser) -> None:
    first = browser.new_key(name="laptop", source="web")
    second = browser.new_key(name="laptop", source="web")
    assert not works(api, first["key"]) and works(api, second["key"])


def test_a_revoked_keys_name_can_be_reused(api, browser) -> None:
    old = browser.new_key(name="reused", source="web")
    assert browser.revoke(old["id"]).status_code == 200
    again = browser.new_key(name="reused", source="mobile")
    assert works(api, again["key"]) and not works(api, old["key"])


def test_same_name_for_different_users(api, browser, stranger, make_key) -> None:
    mine = browser.new_key(name="laptop")
    theirs = make_key(stranger, name="laptop")
    assert works(api, mine["key"]) and works(api, theirs["key"])


def test_an_expired_key_blocks_neither_source_nor_name(app, api, browser, user) -> None:
    old = browser.new_key(name="rotating", source="web", expires_in_days=1)
    set_key(app, old["id"], expires_at=utcnow() - timedelta(minutes=1))
    fresh = browser.new_key(name="rotating", source="mobile")
    assert works(api, fresh["key"]) and not works(api, old["key"])


# --- revoking ------------------------------------------------------------------------------------


def test_revoke(api, browser) -> None:
    created = browser.new_key()
    response = browser.revoke(created["id"])
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == DESCRIBED
    assert body["id"] == created["id"]
    assert abs(parse_time(body["revoked_at"]) - utcnow()) < timedelta(seconds=5)
    assert_401 = api.get("/api/v1/usage", headers=api_key(created["key"]))
    assert assert_401.status_code == 401 and error_body(assert_401) == UNAUTHORIZED
    assert browser.list().get_json() == {"api_keys": []}
    assert browser.revoke(created["id"]).status_code == 404  # already revoked


def test_revoking_another_users_key_is_404(api, browser, stranger, make_key) -> None:
    theirs = make_key(stranger)
    response = browser.revoke(theirs["id"])
    assert response.status_code == 404
    assert error_body(response) == NOT_FOUND
    assert works(api, theirs["key"])


@pytest.mark.parametrize("key_id", [str(uuid.uuid4()), "not-a-uuid", "1", "%00", "a" * 300])
def test_revoking_an_unknown_id_is_404(browser, key_id) -> None:
    response = browser.revoke(key_id)
    assert response.status_code == 404
    assert response.get_json()["error"] in ("record_not_found", "not_found")


# --- who may manage keys ------------------------------------------------------------------------


def test_an_api_key_cannot_manage_keys(api, browser) -> None:
    created = browser.new_key(scope="read_write")
    headers = api_key(created["key"])
    for response in (
        api.get("/api/v1/api_keys", headers=headers),
        api.post(
            "/api/v1/api_keys", headers=headers, json={"name": "successor", "scope": "read_write"}
        ),
        api.delete(f"/api/v1/api_keys/{created['id']}", headers=headers),
    ):
        assert response.status_code == 403, response.get_json()
        assert response.get_json()["error"] == "forbidden"
    assert works(api, created["key"])
    assert [k["name"] for k in browser.list().get_json()["api_keys"]] == [created["name"]]


FIRST_PARTY_ONLY = {
    "error": "forbidden",
    "message": "Only the account holder's own session or app can manage "
    "credentials and account security",
}


@pytest.mark.parametrize("scope", ["read", "read_write"])
def test_a_third_party_token_cannot_manage_keys(
    api, browser, signed_in, oauth_client, scope
) -> None:
    """Whatever the scope the user granted it (a read_write token used to be enough): a key
    minted by a third-party app would outlive the user's revocation of that app."""
    created = browser.new_key()
    token = oauth_token(signed_in, oauth_client, scope)
    for response in (
        api.get("/api/v1/api_keys", headers=bearer(token)),
        api.post("/api/v1/api_keys", headers=bearer(token), json={"name": "x", "scope": "read"}),
        api.delete(f"/api/v1/api_keys/{created['id']}", headers=bearer(token)),
    ):
        assert response.status_code == 403
        assert error_body(response) == FIRST_PARTY_ONLY
    assert works(api, created["key"])
    assert [k["id"] for k in browser.list().get_json()["api_keys"]] == [created["id"]]


def test_a_first_party_token_manages_keys(app, api, user) -> None:
    from tests.support.sure import mobile_login

    headers = bearer(mobile_login(api, user.email)["access_token"])
    response = api.post(
        "/api/v1/api_keys", headers=headers, json={"name": "from the app", "scope": "read"}
    )
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    listed = api.get("/api/v1/api_keys", headers=headers).get_json()["api_keys"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert api.delete(f"/api/v1/api_keys/{created['id']}", headers=headers).status_code == 200
    assert not works(api, created["key"])


def test_a_key_remembers_the_client_that_created_it(app, api, browser, user) -> None:
    from app.apikeys.models import ApiKey
    from app.extensions import db
    from tests.support.sure import mobile_login

    in_browser = browser.new_key(name="browser", source="web")
    headers = bearer(mobile_login(api, user.email)["access_token"])
    from_app = api.post(
        "/api/v1/api_keys",
        headers=headers,
        json={"name": "app", "scope": "read", "source": "mobile"},
    ).get_json()
    with app.app_context():
        origin = dict(db.session.execute(select(ApiKey.id, ApiKey.created_by_client_id)).all())
    assert origin == {uuid.UUID(in_browser["id"]): None, uuid.UUID(from_app["id"]): "sure-mobile"}


def test_client_credentials_token_cannot_manage_keys(api, make_client) -> None:
    service = make_client(name="Service", grant_types=["client_credentials"])
    token = api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "read_write"},
        headers=service.basic_auth,
    ).get_json()["access_token"]
    response = api.get("/api/v1/api_keys", headers=bearer(token))
    assert response.status_code == 401


def test_no_credentials_is_401(api) -> None:
    for response in (
        api.get("/api/v1/api_keys"),
        api.post("/api/v1/api_keys", json={"name": "x", "scope": "read"}),
        api.delete(f"/api/v1/api_keys/{uuid.uuid4()}"),
    ):
        assert response.status_code == 401
        assert error_body(response) == UNAUTHORIZED


def test_session_writes_need_the_csrf_token(signed_in, browser) -> None:
    created = browser.new_key()
    refused = signed_in.post("/api/v1/api_keys", json={"name": "no csrf", "scope": "read"})
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "invalid_csrf_token"
    refused = signed_in.delete(f"/api/v1/api_keys/{created['id']}")
    assert refused.status_code == 400
    assert signed_in.get("/api/v1/api_keys").status_code == 200  # reads need none
    assert [k["id"] for k in browser.list().get_json()["api_keys"]] == [created["id"]]


def test_keys_are_listed_only_to_their_owner(api, browser, stranger, make_key) -> None:
    make_key(stranger, name="mallory's")
    mine = browser.new_key(name="alice's")
    assert [k["id"] for k in browser.list().get_json()["api_keys"]] == [mine["id"]]


# --- the key's life (§7.6, from the outside) ---------------------------------------------------


def test_unknown_keys_are_401(api, browser) -> None:
    key = browser.new_key()["key"]
    for value in ("tgk_" + "A" * 43, key[:-1], key + "x", key.upper(), key[4:], "", "null"):
        response = api.get("/api/v1/usage", headers=api_key(value))
        assert response.status_code == 401, value
        assert error_body(response) == UNAUTHORIZED


def test_expired_key_is_401(app, api, browser) -> None:
    created = browser.new_key(expires_in_days=7)
    assert works(api, created["key"])  # active while expires_at is in the future
    set_key(app, created["id"], expires_at=utcnow() - timedelta(seconds=1))
    response = api.get("/api/v1/usage", headers=api_key(created["key"]))
    assert response.status_code == 401
    assert error_body(response) == UNAUTHORIZED
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_expired_keys_are_not_listed_as_active(app, browser) -> None:
    """Sure's ``active`` scope excludes expired keys; the endpoint lists active keys."""
    expired = browser.new_key(name="expired", source="web", expires_in_days=1)
    live = browser.new_key(name="live", source="mobile")
    set_key(app, expired["id"], expires_at=utcnow() - timedelta(minutes=5))
    assert [k["id"] for k in browser.list().get_json()["api_keys"]] == [live["id"]]


def test_revoked_key_is_401_and_stays_revoked(app, api, browser) -> None:
    created = browser.new_key()
    browser.revoke(created["id"])
    assert not works(api, created["key"])
    browser.new_key(name="another", source="mobile")  # unrelated activity changes nothing
    assert not works(api, created["key"])


def test_last_used_at_is_set_on_first_use(api, browser) -> None:
    created = browser.new_key()
    [listed] = browser.list().get_json()["api_keys"]
    assert listed["last_used_at"] is None
    before = utcnow() - timedelta(seconds=1)
    assert api.get("/api/v1/accounts", headers=api_key(created["key"])).status_code == 200
    [listed] = browser.list().get_json()["api_keys"]
    assert before <= parse_time(listed["last_used_at"]) <= utcnow() + timedelta(seconds=1)


def test_last_used_at_is_set_even_when_scope_refuses(api, browser) -> None:
    created = browser.new_key(scope="read")
    assert api.post("/api/v1/sync", headers=api_key(created["key"])).status_code == 403
    [listed] = browser.list().get_json()["api_keys"]
    assert listed["last_used_at"] is not None


def test_read_key_reads_and_cannot_write(api, browser) -> None:
    created = browser.new_key(scope="read")
    assert api.get("/api/v1/accounts", headers=api_key(created["key"])).status_code == 200
    assert api.post("/api/v1/sync", headers=api_key(created["key"])).status_code == 403


def test_member_manages_own_keys(api, make_user, client) -> None:
    """Any signed-in user, not only admins (Sure's "non-admin member can create")."""
    from tests.support.web import login

    guest = make_user(email="guest@example.com", role="guest")
    assert login(client, guest.email, guest.password).status_code == 302
    created = Browser(client).new_key(name="guest key", scope="read")
    assert works(api, created["key"])


# --- concurrency (PostgreSQL) -------------------------------------------------------------------


def _race(app: Flask, user: UserInfo, jobs: list[dict[str, str]]) -> list[tuple[str, Any]]:
    from app.apikeys import services
    from app.errors import Conflict, ValidationFailed
    from app.extensions import db
    from app.identity.models import User

    barrier = threading.Barrier(len(jobs))
    results: list[tuple[str, Any]] = []
    lock = threading.Lock()

    def worker(job: dict[str, str]) -> None:
        try:
            with app.app_context():
                owner = db.session.get(User, user.id)
                barrier.wait(timeout=30)
                created = services.create_api_key(owner, scope="read", now=utcnow(), **job)
                outcome: tuple[str, Any] = ("created", created.key)
        except Conflict as exc:
            outcome = ("conflict", exc.status)
        except ValidationFailed as exc:  # a creation that began after another had committed
            outcome = ("invalid", exc.description)
        except Exception as exc:  # collected and asserted on below
            outcome = ("error", repr(exc))
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == len(jobs)
    return results


@requires_postgres
def test_concurrent_creations_leave_one_active_key_per_source(app, api, user) -> None:
    results = _race(app, user, [{"name": f"race {n}", "source": "web"} for n in range(10)])
    assert [r for r in results if r[0] == "error"] == []
    assert all(r[1] == 409 for r in results if r[0] == "conflict")
    created = [r[1] for r in results if r[0] == "created"]
    assert created, results
    assert len(active_keys(app, user.id, "web")) == 1
    assert sum(works(api, key) for key in created) == 1


@requires_postgres
def test_concurrent_creations_keep_names_unique(app, user) -> None:
    results = _race(
        app, user, [{"name": "same name", "source": s} for s in ("web", "mobile", "monitoring")]
    )
    assert [r for r in results if r[0] == "error"] == []
    # The losers get 409 (they raced the unique index) or, when one started only after the
    # winner had committed, Sure's validation message: which one depends on the timing.
    assert all(
        r[0] == "conflict" or r == ("invalid", "Name has already been taken")
        for r in results
        if r[0] != "created"
    ), results
    assert len([r for r in results if r[0] == "created"]) == 1
    assert len([r for r in active_keys(app, user.id) if r.name == "same name"]) == 1


# --- the CLI ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A fresh SQLite database the CLI migrates itself (AUTO_MIGRATE=true)."""
    return support_cli.cli_env(
        tmp_path_factory.mktemp("apikeys-cli"), AUTO_MIGRATE="true", APP_ENV="development"
    )


flask_cli = support_cli.flask_cli


def cli_user(env: dict[str, str], email: str) -> dict[str, Any]:
    done = flask_cli(env, "users", "create", "--email", email, "--password", "cli password 1")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def cli_app(cli_env: dict[str, str], instance_dir: Path):  # type: ignore[no-untyped-def]
    """The application in-process, on the database the CLI wrote."""
    from app.extensions import db

    application = create_app(base_config(cli_env["DATABASE_URL"], instance_dir))
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def test_cli_creates_a_key(cli_env, cli_app) -> None:
    cli_user(cli_env, "cli1@example.com")
    done = flask_cli(
        cli_env,
        "apikeys",
        "create",
        "--email",
        "cli1@example.com",
        "--name",
        "deploy",
        "--scope",
        "read",
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().splitlines()) == 1
    printed = json.loads(done.stdout)
    assert set(printed) == {"id", "name", "key", "scope", "source", "tier"}
    assert printed["name"] == "deploy" and printed["scope"] == "read"
    assert printed["source"] == "web" and printed["tier"] == "standard"
    assert KEY_RE.match(printed["key"])
    uuid.UUID(printed["id"])
    api = cli_app.test_client()
    usage = api.get("/api/v1/usage", headers=api_key(printed["key"]))
    assert usage.status_code == 200
    assert usage.get_json()["api_key"]["name"] == "deploy"
    assert usage.get_json()["api_key"]["scopes"] == ["read"]
    assert usage.headers["X-RateLimit-Limit"] == "100"


def test_cli_source_and_tier(cli_env, cli_app) -> None:
    cli_user(cli_env, "cli2@example.com")
    done = flask_cli(
        cli_env,
        "apikeys",
        "create",
        "--email",
        "cli2@example.com",
        "--name",
        "monitor",
        "--scope",
        "read_write",
        "--source",
        "monitoring",
        "--tier",
        "enterprise",
    )
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert (printed["scope"], printed["source"], printed["tier"]) == (
        "read_write",
        "monitoring",
        "enterprise",
    )
    response = cli_app.test_client().get("/api/v1/usage", headers=api_key(printed["key"]))
    assert response.headers["X-RateLimit-Limit"] == "10000"
    assert response.get_json()["rate_limit"]["tier"] == "enterprise"


def test_cli_replaces_the_sources_previous_key(cli_env, cli_app) -> None:
    cli_user(cli_env, "cli3@example.com")
    keys = []
    for name in ("first", "second"):
        done = flask_cli(
            cli_env,
            "apikeys",
            "create",
            "--email",
            "cli3@example.com",
            "--name",
            name,
            "--scope",
            "read",
        )
        assert done.returncode == 0, done.stderr
        keys.append(json.loads(done.stdout)["key"])
    api = cli_app.test_client()
    assert not works(api, keys[0]) and works(api, keys[1])


def test_cli_unknown_email_fails_with_one_line(cli_env) -> None:
    cli_user(cli_env, "cli0@example.com")  # the database is migrated: steady state
    done = flask_cli(
        cli_env,
        "apikeys",
        "create",
        "--email",
        "nobody@example.com",
        "--name",
        "n",
        "--scope",
        "read",
    )
    assert done.returncode != 0
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "nobody@example.com" in lines[0]


def test_cli_duplicate_name_fails_with_one_line(cli_env) -> None:
    cli_user(cli_env, "cli4@example.com")  # also migrates: steady state below
    first = flask_cli(
        cli_env,
        "apikeys",
        "create",
        "--email",
        "cli4@example.com",
        "--name",
        "dup",
        "--scope",
        "read",
        "--source",
        "web",
    )
    assert first.returncode == 0, first.stderr
    done = flask_cli(
        cli_env,
        "apikeys",
        "create",
        "--email",
        "cli4@example.com",
        "--name",
        "dup",
        "--scope",
        "read",
        "--source",
        "mobile",
    )
    assert done.returncode != 0
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Name has already been taken" in lines[0], done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--scope", "write"],
        ["--scope", "read", "--source", "desktop"],
        ["--scope", "read", "--tier", "gold"],
    ],
)
def test_cli_refuses_unknown_choices(cli_env, args) -> None:
    done = flask_cli(
        cli_env, "apikeys", "create", "--email", "cli1@example.com", "--name", "bad", *args
    )
    assert done.returncode != 0
    assert done.stdout == ""
