"""Browser sign-in: the form, credentials, open redirects, CSRF, session fixation, cookie
flags, throttling, sign-out, auditing, deactivation and session epochs."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, update

from tests.support.factories import PASSWORD
from tests.support.web import csrf_from, login

SESSION_COOKIE = "tollgate_session"
ERROR_RE = re.compile(r'<p class="error" role="alert">([^<]*)</p>')


def _error_text(response) -> str:  # type: ignore[no-untyped-def]
    match = ERROR_RE.search(response.get_data(as_text=True))
    assert match, "page shows no error"
    return match.group(1)


def _post_login(client, email: str, password: str, next_path: str = "/", **kwargs):  # type: ignore[no-untyped-def]
    """A sign-in attempt with a fresh form (the token is bound to the session)."""
    page = client.get("/login")
    return client.post(
        "/login",
        data={
            "email": email,
            "password": password,
            "next": next_path,
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
        **kwargs,
    )


def _signed_in_status(client) -> int:  # type: ignore[no-untyped-def]
    """200 when the browser session is signed in, 401 otherwise (a session-only endpoint)."""
    return client.get("/oauth/authorized_applications").status_code


def _set_cookie_headers(response, name: str = SESSION_COOKIE) -> list[str]:  # type: ignore[no-untyped-def]
    return [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]


# --- the form ----------------------------------------------------------------------------------


def test_login_page_renders_form(client):
    response = client.get("/login?next=/oauth/authorize%3Fx%3D1")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'name="email"' in html
    assert 'type="password" name="password"' in html
    assert re.search(r'<input type="hidden" name="csrf_token" value="[^"]+">', html)
    assert '<input type="hidden" name="next" value="/oauth/authorize?x=1">' in html
    assert 'method="post"' in html
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_login_page_sanitises_next_in_form(client):
    html = client.get("/login", query_string={"next": "https://evil.example/"}).get_data(
        as_text=True
    )
    assert '<input type="hidden" name="next" value="/">' in html
    assert "evil.example" not in html


# --- credentials ---------------------------------------------------------------------------------


def test_correct_credentials_redirect_to_next(client, user):
    response = login(client, user.email, user.password, next_path="/oauth/authorize?x=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/oauth/authorize?x=1"
    assert _signed_in_status(client) == 200


def test_email_is_case_and_space_insensitive(client, user):
    response = login(client, "  ALICE@Example.COM ", user.password)
    assert response.status_code == 302


def test_wrong_password_and_unknown_email_look_the_same(client, user):
    wrong = _post_login(client, user.email, "not the password")
    unknown = _post_login(client, "nobody@example.com", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert _error_text(wrong) == _error_text(unknown) == "Invalid email or password."
    assert _signed_in_status(client) == 401


def test_missing_fields_are_invalid_credentials(client, user):
    page = client.get("/login")
    response = client.post("/login", data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 401
    assert _error_text(response) == "Invalid email or password."


def test_deactivated_user_cannot_sign_in(app, client, user):
    from app.extensions import db
    from app.models import User

    with app.app_context():
        db.session.execute(update(User).where(User.id == user.id).values(active=False))
        db.session.commit()
    response = login(client, user.email, user.password)
    assert response.status_code == 401
    assert _error_text(response) == "Invalid email or password."
    assert _signed_in_status(client) == 401


# --- open redirects ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "http:/evil",
        "/\t/evil.example",
        "/\n/evil.example",
        "///evil.example",
        "evil.example",
        "",
    ],
)
def test_next_outside_this_origin_goes_home(client, user, target):
    response = login(client, user.email, user.password, next_path=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", ["/oauth/authorize?x=1", "/", "/api/docs"])
def test_same_origin_paths_are_kept(client, user, target):
    response = login(client, user.email, user.password, next_path=target)
    assert response.headers["Location"] == target


def test_already_signed_in_login_page_redirects_safely(signed_in):
    response = signed_in.get("/login", query_string={"next": "//evil.example"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    response = signed_in.get("/login", query_string={"next": "/oauth/authorize?x=1"})
    assert response.headers["Location"] == "/oauth/authorize?x=1"


# --- CSRF ------------------------------------------------------------------------------------


def test_login_without_csrf_token_is_refused(client, user):
    client.get("/login")
    response = client.post(
        "/login", data={"email": user.email, "password": user.password, "next": "/"}
    )
    assert response.status_code == 400
    assert _signed_in_status(client) == 401


def test_login_with_forged_csrf_token_is_refused(client, user):
    client.get("/login")
    response = client.post(
        "/login",
        data={"email": user.email, "password": user.password, "csrf_token": "forged.token.value"},
    )
    assert response.status_code == 400
    assert _signed_in_status(client) == 401


def test_csrf_token_from_another_browser_is_refused(app, client, user):
    other = app.test_client()
    token = csrf_from(other.get("/login").get_data(as_text=True))
    client.get("/login")
    response = client.post(
        "/login", data={"email": user.email, "password": user.password, "csrf_token": token}
    )
    assert response.status_code == 400


# --- session fixation and cookie flags ---------------------------------------------------------


def test_session_is_rotated_at_sign_in(client, user):
    page = client.get("/login")
    with client.session_transaction() as session:
        session["fixation_marker"] = "planted before sign-in"
        old_csrf_secret = session["csrf_token"]
    before = client.get_cookie(SESSION_COOKIE)
    assert before is not None
    response = client.post(
        "/login",
        data={
            "email": user.email,
            "password": user.password,
            "next": "/",
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    )
    assert response.status_code == 302
    after = client.get_cookie(SESSION_COOKIE)
    assert after is not None
    assert after.value != before.value
    with client.session_transaction() as session:
        assert "fixation_marker" not in session
        # the pre-login CSRF secret does not survive either; a fresh one is made on demand
        assert session.get("csrf_token") != old_csrf_secret
        assert session["_user_id"].startswith(str(user.id))


def test_session_cookie_flags(app, client, user):
    assert app.config["SESSION_COOKIE_SECURE"] is True  # APP_ENV "testing" is not development
    response = login(client, user.email, user.password)
    (header,) = _set_cookie_headers(response)
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")}
    assert "httponly" in attributes
    assert "secure" in attributes
    assert "samesite=lax" in header.lower().replace(" ", "")
    assert "expires" in attributes  # permanent session with a bounded lifetime
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie.http_only and cookie.secure and cookie.same_site == "Lax"


@pytest.mark.config(APP_ENV="development")
def test_session_cookie_not_secure_in_development(app, client, user):
    assert app.config["SESSION_COOKIE_SECURE"] is False
    response = login(client, user.email, user.password)
    (header,) = _set_cookie_headers(response)
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")}
    assert "secure" not in attributes
    assert "httponly" in attributes


@pytest.mark.config(APP_ENV="staging")
def test_session_cookie_secure_outside_development(app, client, user):
    assert app.config["SESSION_COOKIE_SECURE"] is True
    response = login(client, user.email, user.password)
    (header,) = _set_cookie_headers(response)
    assert "secure" in {part.strip().lower() for part in header.split(";")}


# --- throttling --------------------------------------------------------------------------------


@pytest.mark.config(RATE_LIMIT_LOGIN_ACCOUNT="3 per 15 minutes")
def test_account_throttle_refuses_even_the_right_password(client, user):
    for _ in range(3):
        assert _post_login(client, user.email, "wrong password!").status_code == 401
    response = _post_login(client, user.email, user.password)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many attempts" in response.get_data(as_text=True)
    assert _signed_in_status(client) == 401
    # The same account from another address is throttled as well: the budget is per account.
    other = _post_login(
        client, user.email, user.password, environ_base={"REMOTE_ADDR": "198.51.100.7"}
    )
    assert other.status_code == 429


@pytest.mark.config(RATE_LIMIT_LOGIN_ACCOUNT="3 per 15 minutes")
def test_successful_sign_in_resets_the_account_budget(app, client, user):
    for _ in range(2):
        assert _post_login(client, user.email, "wrong password!").status_code == 401
    assert _post_login(client, user.email, user.password).status_code == 302
    browser = app.test_client()
    for _ in range(2):
        assert _post_login(browser, user.email, "wrong password!").status_code == 401
    assert _post_login(browser, user.email, user.password).status_code == 302


@pytest.mark.config(RATE_LIMIT_LOGIN_IP="3 per 15 minutes")
def test_ip_throttle_spans_accounts_and_ignores_forwarded_for(app, client, user):
    for n in range(3):
        assert _post_login(client, f"stranger{n}@example.com", "wrong password!").status_code == 401
    response = _post_login(client, user.email, user.password)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    spoofed = _post_login(
        client,
        user.email,
        user.password,
        headers={"X-Forwarded-For": "203.0.113.99", "X-Real-IP": "203.0.113.99"},
    )
    assert spoofed.status_code == 429
    # A genuinely different client address has its own budget.
    elsewhere = app.test_client()
    response = _post_login(
        elsewhere, user.email, user.password, environ_base={"REMOTE_ADDR": "198.51.100.7"}
    )
    assert response.status_code == 302


# --- sign-out ------------------------------------------------------------------------------------


def test_logout_signs_out(signed_in):
    assert _signed_in_status(signed_in) == 200
    token = csrf_from(signed_in.get("/").get_data(as_text=True))
    response = signed_in.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert _signed_in_status(signed_in) == 401


def test_logout_requires_post_and_csrf(signed_in):
    assert signed_in.get("/logout").status_code == 405
    assert signed_in.post("/logout").status_code == 400
    assert _signed_in_status(signed_in) == 200


def test_session_cookie_copied_before_logout_is_dead_after_it(app, client, user):
    """Sessions are server-side: signing out ends the session for every copy of the cookie."""
    login(client, user.email, user.password)
    stolen = client.get_cookie(SESSION_COOKIE).value
    replay = app.test_client()
    replay.set_cookie(SESSION_COOKIE, stolen, domain="localhost")
    assert _signed_in_status(replay) == 200  # the copy works while the session lives
    token = csrf_from(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert _signed_in_status(replay) == 401


def test_sign_in_stores_only_a_digest_of_the_session_id(app, client, user):
    from app import crypto
    from app.extensions import db
    from app.models import WebSession

    login(client, user.email, user.password)
    with client.session_transaction() as session:
        sid = session["sid"]
    with app.app_context():
        rows = db.session.scalars(select(WebSession)).all()
    assert len(rows) == 1
    assert rows[0].user_id == user.id
    assert rows[0].sid_digest == crypto.digest(sid)
    assert rows[0].revoked_at is None


def test_signing_in_again_ends_the_previous_server_session(app, client, user):
    from app.extensions import db
    from app.models import WebSession

    login(client, user.email, user.password)
    first = client.get_cookie(SESSION_COOKIE).value
    # Already signed in, the login page redirects; post the form from another tab's token.
    token = csrf_from(client.get("/").get_data(as_text=True))
    response = client.post(
        "/login",
        data={"email": user.email, "password": user.password, "csrf_token": token, "next": "/"},
    )
    assert response.status_code == 302
    assert client.get_cookie(SESSION_COOKIE).value != first
    with app.app_context():
        rows = db.session.scalars(select(WebSession).order_by(WebSession.created_at)).all()
    assert len(rows) == 2
    assert sum(row.revoked_at is not None for row in rows) == 1
    replay = app.test_client()
    replay.set_cookie(SESSION_COOKIE, first, domain="localhost")
    assert _signed_in_status(replay) == 401
    assert _signed_in_status(client) == 200


def test_forged_user_id_without_server_session_is_not_signed_in(app, client, user):
    """A session that names a user but carries no live server-side session id is anonymous."""
    client.get("/login")
    with client.session_transaction() as session:
        session["_user_id"] = f"{user.id}:0"
        session["_fresh"] = True
    assert _signed_in_status(client) == 401
    with client.session_transaction() as session:
        session["_user_id"] = f"{user.id}:0"
        session["sid"] = "tgw_made-up"
    assert _signed_in_status(client) == 401


# --- audit -------------------------------------------------------------------------------------


def test_sign_in_attempts_are_audited(app, client, user):
    from app.models import AuditEvent

    _post_login(client, user.email, "wrong password!")
    _post_login(client, "ghost@example.com", "wrong password!")
    login(client, user.email, user.password)
    with app.app_context():
        from app.extensions import db

        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "login").order_by(AuditEvent.id)
        ).all()
    assert [e.outcome for e in events] == ["failure", "failure", "success"]
    wrong, ghost, success = events
    assert wrong.actor_user_id == user.id
    assert wrong.details.get("reason") == "bad_credentials"
    assert ghost.actor_user_id is None
    assert ghost.details.get("email") == "ghost@example.com"
    assert success.actor_user_id == user.id and success.family_id == user.family_id
    assert success.details.get("channel") == "web"
    assert all(e.ip == "127.0.0.1" for e in events)
    # No password ever reaches the audit log.
    for event in events:
        assert "wrong password!" not in str(event.details)
        assert user.password not in str(event.details)


# --- session epochs ----------------------------------------------------------------------------


def test_bumped_session_epoch_signs_out_on_next_request(app, signed_in, user):
    from app.extensions import db
    from app.models import User

    assert _signed_in_status(signed_in) == 200
    with app.app_context():
        db.session.execute(
            update(User).where(User.id == user.id).values(session_epoch=User.session_epoch + 1)
        )
        db.session.commit()
    assert _signed_in_status(signed_in) == 401
    home = signed_in.get("/").get_data(as_text=True)
    assert "Signed in" not in home


def test_deactivation_ends_an_existing_session(app, signed_in, user):
    from app.extensions import db
    from app.models import User

    with app.app_context():
        db.session.execute(update(User).where(User.id == user.id).values(active=False))
        db.session.commit()
    assert _signed_in_status(signed_in) == 401
