"""Flask extensions, created unbound here and configured once in ``create_app``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from flask import (
    Flask,
    current_app,
    g,
    request,  # noqa: TID251 - the CSRF and cookie extensions are HTTP plumbing
)
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from flask_wtf.csrf import CSRFError
from sqlalchemy import MetaData, event
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.base import Executable

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with stable constraint names, so migrations stay reviewable."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Objects stay usable after a unit of work commits (no reload per attribute); sessions are
# request-scoped, so nothing lives long enough to go stale.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
login_manager = LoginManager()

if TYPE_CHECKING:
    # ``db.Model`` is made at run time, so a type checker cannot see it as a class; models
    # subclass ``Model``, which is ``db.Model`` at run time and our declarative base to mypy.
    class Model(Base):
        __abstract__ = True
else:
    Model = db.Model


def execute_count(statement: Executable) -> int:
    """Run an INSERT, UPDATE or DELETE in the current session; how many rows it touched.

    The count is what makes conditional writes (``UPDATE ... WHERE used_at IS NULL``) atomic
    decisions, so it has one typed home instead of ``.rowcount`` on an untyped result."""
    result = db.session.execute(statement)
    return cast("CursorResult[Any]", result).rowcount


def origin_of(url: str | None) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL, default ports filled in; None when it has none (e.g. the
    ``null`` origin)."""
    try:
        parts = urlsplit(url or "")
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:  # a malformed port
        return None
    if not parts.scheme or not parts.hostname or port is None:
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port


class SameOriginCSRFProtect(CSRFProtect):
    """Flask-WTF's token check plus our own same-origin check, in the one place every CSRF
    check goes through (the form routes' before_request and the gate's session writes).

    Flask-WTF's own HTTPS check (WTF_CSRF_SSL_STRICT) requires a Referer, which a strict
    Referrer-Policy suppresses. ``Origin`` is what browsers send on every POST, so it decides;
    ``Referer`` is the fallback for clients that send no Origin. Over HTTPS a request with
    neither is refused (a browser always sends one of them); over plain HTTP it passes on the
    token alone, as before, for non-browser clients.
    """

    def protect(self, apply_exemptions: bool = False) -> None:
        super().protect(apply_exemptions)
        if g.get("csrf_valid"):  # the token was checked: this is an unsafe, protected request
            self._require_same_origin()

    def _require_same_origin(self) -> None:
        expected = origin_of(current_app.config["APP_URL"] or request.host_url)
        offered = request.headers.get("Origin")
        if offered is None:
            offered = request.headers.get("Referer")
        if offered is None:
            if request.is_secure:
                g.csrf_valid = False
                raise CSRFError("The request has neither an Origin nor a Referer header.")
            return
        if origin_of(offered) != expected:
            g.csrf_valid = False
            raise CSRFError("The request did not come from this site.")


class SessionCookies(SecureCookieSessionInterface):
    """The session cookie is ``Secure`` when configured so (on outside development) and on
    every HTTPS request, so the embedded default still works at http://127.0.0.1:8000 while a
    development server behind TLS never sends its session in clear text."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


csrf = SameOriginCSRFProtect()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:  # type: ignore[no-untyped-def]
    """SQLite: enforce foreign keys and use WAL so readers never block the single writer."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
