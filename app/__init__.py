"""Tollgate: an OAuth 2.0 authorization server and API-credential service."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask
from werkzeug.middleware.proxy_fix import ProxyFix

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# An installed wheel carries the migrations inside the package (setup.py maps migrations/ to
# app/migrations); a checkout has them at its root, next to instance/.
_PACKAGED_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
INSTALLED = _PACKAGED_MIGRATIONS.is_dir()
MIGRATIONS_DIR = _PACKAGED_MIGRATIONS if INSTALLED else PROJECT_ROOT / "migrations"


class Tollgate(Flask):
    """Flask, with one per-request cost removed: Flask asks ``inspect`` whether every hook
    and view is a coroutine function on every request (``ensure_sync``); the answer for a
    given function never changes, so it is remembered."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._synced: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            return self._synced[func]
        except KeyError:
            synced = self._synced[func] = super().ensure_sync(func)
            return synced
        except TypeError:  # an unhashable callable: ask every time
            return super().ensure_sync(func)


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the application: config -> extensions -> migrations -> credential verifiers
    (OAuth server first) -> log redaction -> blueprints -> security headers -> errors -> CLI."""
    app = Tollgate(
        __name__,
        # Installed, Flask's default (<prefix>/var/app-instance), never inside site-packages.
        instance_path=os.environ.get("INSTANCE_PATH")
        or (None if INSTALLED else str(PROJECT_ROOT / "instance")),
        instance_relative_config=True,
        template_folder="web/templates",
        static_folder="web/static",
    )

    from app.config import load_config

    load_config(app, overrides)
    _init_extensions(app)

    from app import dbupgrade
    from app.oauth2.oidc import keys as oidc_keys

    if app.config["AUTO_MIGRATE"]:
        dbupgrade.upgrade(app)
        oidc_keys.generate_at_start(app)  # ID token signing keys, like the other secrets

    _register_credentials(app)
    from app import logredact

    logredact.install()  # after the OAuth server: every Authlib logger exists by now
    from app.secretkeys import redaction

    redaction.install()  # reveal-link tokens in access logs' request lines
    _register_blueprints(app)
    from app import headers

    headers.init_app(app)

    from app.errors import register_error_handlers

    register_error_handlers(app)

    from app.cli import register_cli

    register_cli(app)
    return app


def _init_extensions(app: Flask) -> None:
    from app import models, ratelimit, requestctx  # noqa: F401 - models: complete metadata
    from app.extensions import (
        SessionCookies,
        csrf,
        db,
        init_lookup_engine,
        login_manager,
        migrate,
        ping_idle_connections,
    )
    from app.gate import http as gate_http

    if app.config["TRUSTED_PROXY_COUNT"]:
        hops = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.session_interface = SessionCookies()
    db.init_app(app)
    with app.app_context():
        engine = db.engine
        if (
            engine.dialect.name != "sqlite"
            and "pool_pre_ping" not in app.config["SQLALCHEMY_ENGINE_OPTIONS"]
        ):
            ping_idle_connections(engine)
        init_lookup_engine(app, engine)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    login_manager.init_app(app)
    from app.web.views import load_user

    login_manager.user_loader(load_user)
    login_manager.session_protection = "strong"
    csrf.init_app(app)
    ratelimit.init_app(app)
    gate_http.init_app(app)  # before requestctx: the caller carries the correlation id
    requestctx.init_app(app)


def _register_credentials(app: Flask) -> None:
    """Each credential feature registers its verifiers with the gate (in resolution order)."""
    from app.accesskeys.verifier import AccessKeyVerifier
    from app.apikeys import verifier as apikeys
    from app.breakglass import views as breakglass
    from app.firstparty import reset
    from app.gate import register_verifier
    from app.oauth2 import server as oauth2_server
    from app.oauth2.verifier import AccessTokenVerifier
    from app.partners.verifier import OrgAdminTokenVerifier
    from app.secretkeys.verifier import SecretKeyJWTVerifier
    from app.sessions.verifier import SessionTokenVerifier

    oauth2_server.init_app(app)
    reset.init_app(app)
    breakglass.init_app(app)  # X-Master-Key: settings checked, verifier, audit of each result
    register_verifier(app, AccessKeyVerifier.for_app(app))
    register_verifier(app, SecretKeyJWTVerifier())
    register_verifier(app, SessionTokenVerifier())
    register_verifier(app, AccessTokenVerifier())
    register_verifier(app, OrgAdminTokenVerifier())
    register_verifier(app, apikeys.PersonalApiKeyVerifier())
    register_verifier(app, apikeys.GlobalApiKeyVerifier.for_app(app))


def _register_blueprints(app: Flask) -> None:
    from app.accesskeys.views import bp as accesskeys_bp
    from app.accesskeys.views import pages_bp as accesskeys_pages_bp
    from app.admin.pages.views import pages_bp as admin_pages_bp
    from app.admin.views import bp as admin_bp
    from app.apikeys.views import bp as apikeys_bp
    from app.auditlog.views import bp as auditlog_bp
    from app.auditlog.views import pages_bp as auditlog_pages_bp
    from app.breakglass.views import bp as breakglass_bp
    from app.breakglass.views import pages_bp as breakglass_pages_bp
    from app.errors import mark_json_api
    from app.extensions import csrf
    from app.firstparty.views import bp as firstparty_bp
    from app.gate.twins import add_api_v1_twins
    from app.oauth2.views import JSON_ENDPOINTS
    from app.oauth2.views import bp as oauth2_bp
    from app.ops import views as ops_views
    from app.partners.views import bp as partners_bp
    from app.partners.views import pages_bp as partner_pages_bp
    from app.resources.scans.views import bp as redcloud_bp
    from app.resources.views import bp as resources_bp
    from app.secretkeys.views import admin_pages_bp as secretkey_admin_pages_bp
    from app.secretkeys.views import bp as secretkeys_bp
    from app.secretkeys.views import pages_bp as secretkeys_pages_bp
    from app.sessions.views import bp as sessions_bp
    from app.sso.views import blueprints as sso_blueprints
    from app.web.views import bp as web_bp
    from app.web.views import docs_bp

    ops_views.init_app(app)  # /healthz, /readyz, /metrics; request timing, JSON logs
    app.register_blueprint(web_bp)
    app.register_blueprint(oauth2_bp)
    app.register_blueprint(docs_bp)
    app.register_blueprint(secretkeys_pages_bp)
    app.register_blueprint(secretkey_admin_pages_bp)
    app.register_blueprint(accesskeys_pages_bp)
    app.register_blueprint(admin_pages_bp)
    app.register_blueprint(partner_pages_bp)
    app.register_blueprint(auditlog_pages_bp)
    app.register_blueprint(breakglass_pages_bp)
    for sso_bp in sso_blueprints:  # external OpenID Connect sign-in: web, mobile, desktop
        app.register_blueprint(sso_bp)
    # The gate checks CSRF itself, and only for cookie-authenticated writes.
    for api in (
        resources_bp,
        apikeys_bp,
        firstparty_bp,
        admin_bp,
        accesskeys_bp,
        secretkeys_bp,
        auditlog_bp,
        breakglass_bp,
    ):
        csrf.exempt(api)
        app.register_blueprint(api)
    # JSON APIs at the root (RedCloud's and Surfsight's paths): errors in the API envelope, and
    # every route served under /api/v1 as well (a Sure path there wins).
    root_apis: tuple[Blueprint, ...] = (sessions_bp, partners_bp, redcloud_bp)
    for api in root_apis:
        csrf.exempt(api)
        app.register_blueprint(api)
    mark_json_api(app, *(api.name for api in root_apis))
    root_endpoints = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint.partition(".")[0] in {api.name for api in root_apis}
    }
    add_api_v1_twins(app, JSON_ENDPOINTS | root_endpoints)
