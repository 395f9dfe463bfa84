"""Flask extensions, created unbound here and configured once in ``create_app``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from flask import (
    Flask,
    current_app,
    g,
    request,  # noqa: TID251 - the CSRF and cookie extensions are HTTP plumbing
    session,  # noqa: TID251 - Flask-Login's remember-cookie hook reads it
)
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from flask_wtf.csrf import CSRFError
from sqlalchemy import MetaData, event
from sqlalchemy.engine import CursorResult, Engine, Row
from sqlalchemy.exc import DisconnectionError
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


class TollgateLoginManager(LoginManager):
    """Flask-Login, minus its per-request work on requests without a session (API calls):
    the remember-cookie bookkeeping has nothing to do when the session is empty."""

    def _update_remember_cookie(self, response: Any) -> Any:
        if not session:
            return response
        return super()._update_remember_cookie(response)


login_manager = TollgateLoginManager()

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


def lookup(statement: Executable, params: dict[str, Any]) -> Row[Any] | None:
    """The first row of a single-statement read that decides a request (a credential
    lookup), through Core: no ORM entity loading, and no ORM session either while the
    request's session has not begun — a pooled connection of its own, in autocommit on
    PostgreSQL (one round trip: no BEGIN, no ROLLBACK), returned at once. The session's
    machinery cost more than the query. Once the session has begun, its connection (and
    transaction) is used, so the lookup sees what the request itself wrote."""
    registry = db.session.registry  # has(): without making a session for this request
    if registry.has() and (session := registry()).in_transaction():
        return session.connection().execute(statement, params).first()
    engine: Engine = current_app.extensions[LOOKUP_ENGINE]
    with engine.connect() as connection:
        return connection.execute(statement, params).first()


LOOKUP_ENGINE = "tollgate.lookup_engine"


def init_lookup_engine(app: Flask, engine: Engine) -> None:
    """The engine ``lookup`` reads through: the application's own pool, in autocommit on
    PostgreSQL (SQLite's driver opens no transaction for a SELECT)."""
    app.extensions[LOOKUP_ENGINE] = (
        engine.execution_options(isolation_level="AUTOCOMMIT")
        if engine.dialect.name == "postgresql"
        else engine
    )


def reads_only() -> None:
    """Declare that this request only reads: on PostgreSQL its session's connection runs in
    autocommit, which spares the BEGIN and ROLLBACK round trips of a transaction that would
    write nothing (each statement still sees every commit made before it started, as in
    READ COMMITTED). A no-op once the session has begun (its transaction stays as it is) and
    on SQLite (whose driver opens no transaction for a SELECT). Only views that write nothing
    (or a single self-contained statement, such as the gate's once-a-minute ``last_used_at``)
    may declare it."""
    if db.engine.dialect.name != "postgresql":
        return
    session = db.session()
    if not session.in_transaction():
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


# A pooled connection used within this many seconds is handed out without a ping (HikariCP's
# "alive bypass window"): under load every request would otherwise pay one more round trip.
# A connection that died within the window fails its request (503) and the pool drops it
# and its siblings, so the next request gets a fresh one.
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "tollgate.idle_since"


def ping_idle_connections(engine: Engine) -> None:
    """Pessimistic disconnect handling for pooled (PostgreSQL) connections, paid only by
    connections that sat idle: the pool's ``pre_ping`` pings on every checkout."""

    @event.listens_for(engine, "checkin")
    def _idle_from(dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)  # None: connected just now
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # any failure: this connection is gone; the pool retries
            raise DisconnectionError(str(exc)) from exc


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

    def open_session(self, app: Flask, request: Any) -> Any:
        # API calls carry no cookie at all: nothing to parse or verify, no signer to build.
        if app.secret_key and not request.environ.get("HTTP_COOKIE"):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        if not session and not session.modified:  # nothing to set or delete (as Flask does)
            if session.accessed:
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)


csrf = SameOriginCSRFProtect()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:  # type: ignore[no-untyped-def]
    """SQLite: enforce foreign keys and use WAL so readers never block the single writer.

    ``synchronous=NORMAL`` (SQLite's recommendation for WAL): a commit is written to the WAL
    but not fsynced until a checkpoint. The database stays consistent whatever happens, and a
    commit survives a crash of the process (the OS holds the write); only a power loss or an
    OS crash may lose the last commits before the next checkpoint. README: Durability."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
