"""Configuration: DefaultConfig -> instance/config.py -> environment -> overrides.

Every key is listed in DefaultConfig with one comment. Environment variables use the same
names (``DATABASE_URL`` and ``REDIS_URL`` are the two aliases). Secrets have no defaults: for
the embedded default they are generated once into ``instance/secrets.json`` (mode 0600); with
``APP_ENV=production`` a missing secret stops start-up.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from flask import Flask, current_app, has_app_context


class ConfigurationError(RuntimeError):
    """Raised at start-up when the configuration cannot work; the message says what to set."""


class DefaultConfig:
    # --- deployment -------------------------------------------------------------------------
    APP_ENV = "development"  # "production" refuses to start without explicit secrets
    APP_URL = ""  # public base URL: the OAuth issuer and absolute URLs; empty = from the request
    SQLALCHEMY_DATABASE_URI = ""  # env DATABASE_URL; empty = SQLite file in instance/
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {}  # passed to create_engine
    REDIS_URL = ""  # optional; rate-limit counters shared by every instance when set
    AUTO_MIGRATE = None  # apply migrations at start-up; None = only on the embedded default
    TRUSTED_PROXY_COUNT = 0  # how many X-Forwarded-* hops to trust (0: use the socket peer)
    # The deployment region (e.g. "us", "eu"): tenants, users and tokens carry the region they
    # were created in, and a credential of another region is refused (401) here. Instances of
    # different regions may share one database. Set it before the first start.
    REGION = "default"

    # --- what operators watch (app/ops: /healthz, /readyz, /metrics, logs) ---------------------
    LOG_FORMAT = "text"  # "json": one JSON object per line on stderr, with an access line each
    METRICS_TOKEN = ""  # bearer secret /metrics asks for (constant-time compare); empty = open

    # --- secrets (no defaults; generated into instance/ outside production) -----------------
    SECRET_KEY = ""  # signs session cookies and CSRF tokens
    ENCRYPTION_KEYS = ""  # comma-separated Fernet keys for secrets stored encrypted; first encrypts
    SECRET_KEY_JWT_KEY = ""  # HS512 key of secret-key JWTs (sk+jwt); at least 64 characters
    ACCESS_KEY_JWT_KEY = ""  # HS256 key of SecureCloud access-key JWTs (ak+jwt); at least 32
    SESSION_JWT_KEY = ""  # HS256 key of RedCloud session access JWTs (at+jwt); at least 32
    PARTNER_SSO_KEY = ""  # HMAC key each organisation's ssoSecret is derived from; at least 32

    # --- sessions and the web UI --------------------------------------------------------------
    SESSION_COOKIE_NAME = "tollgate_session"  # browser session cookie
    SESSION_COOKIE_HTTPONLY = True  # never readable by scripts
    SESSION_COOKIE_SAMESITE = "Lax"  # sent on top-level navigations only
    SESSION_COOKIE_SECURE = None  # None = True outside development; HTTPS requests always
    PERMANENT_SESSION_LIFETIME = 12 * 3600  # seconds a browser sign-in lasts
    SESSION_REFRESH_EACH_REQUEST = False  # no Set-Cookie on every API response
    WTF_CSRF_TIME_LIMIT = 3600  # seconds a form's CSRF token is valid
    # Off: Flask-WTF's HTTPS check insists on a Referer, which referrer policies and privacy
    # settings suppress; extensions.SameOriginCSRFProtect checks Origin first, then Referer.
    WTF_CSRF_SSL_STRICT = False

    # --- sign-in through external OpenID Connect providers (app.sso) --------------------------
    # Providers besides those added with `flask sso providers add`: a list of dicts with keys
    # key, issuer, client_id, client_secret[, display_name, scopes, allowed_domains, jit_mode
    # (create_and_link | link_only), default_role]; in the environment a JSON array.
    SSO_PROVIDERS: list[dict[str, Any]] = []
    SSO_HTTP_TIMEOUT = 10  # seconds to wait for a provider (discovery, JWKS, token endpoint)
    SSO_ID_TOKEN_LEEWAY = 60  # seconds of clock skew allowed on a provider's ID token exp/iat

    # --- passwords ----------------------------------------------------------------------------
    PASSWORD_MIN_LENGTH = 8  # the model rule every password path enforces
    ARGON2_TIME_COST = 3  # argon2id iterations
    ARGON2_MEMORY_COST = 65536  # argon2id memory in KiB
    ARGON2_PARALLELISM = 4  # argon2id lanes

    # --- OAuth 2.0 ----------------------------------------------------------------------------
    # read_write includes read; openid, profile, email are OpenID Connect (no resource access)
    OAUTH2_SCOPES_SUPPORTED = ["read", "read_write", "openid", "profile", "email"]
    OAUTH2_DEFAULT_SCOPE = "read"  # scope when a request names none
    OAUTH2_AUTHORIZATION_CODE_LIFETIME = 600  # seconds; RFC 6749 recommends at most 10 minutes
    OAUTH2_TOKEN_EXPIRES_IN = {  # access-token lifetime per grant, seconds
        "authorization_code": 31536000,
        "refresh_token": 31536000,
        "password": 31536000,
        "client_credentials": 31536000,
    }
    OAUTH2_REFRESH_TOKEN_LIFETIME = 0  # seconds a refresh token lives; 0 = until revoked
    FIRST_PARTY_TOKEN_LIFETIME = 2592000  # Sure's mobile access tokens: 30 days
    # Seconds a rotated first-party refresh token may be presented again (a lost answer, two
    # unlocked refreshes) for a sibling pair instead of a lineage revocation; 0 = strict.
    FIRST_PARTY_REFRESH_REUSE_INTERVAL = 10
    OAUTH2_REFRESH_REUSE_INTERVAL = 0  # the same for third-party clients; 0 = strict (RFC 9700)
    OAUTH2_RESOURCE_PATHS = ["/api/v1"]  # RFC 8707 resources besides APP_URL: <APP_URL><path>
    TOKEN_PURGE_BATCH_SIZE = 1000  # rows deleted per statement by `flask tokens purge`
    OIDC_ID_TOKEN_LIFETIME = 3600  # seconds an ID token lives (and a rotated key stays published)
    OIDC_DEFAULT_SIGNING_ALG = "RS256"  # ID token alg of a client that chose none: RS256 | ES256

    # --- API keys ------------------------------------------------------------------------------
    API_KEY_PREFIX = "tgk_"  # prefix of personal API keys (recognisable when leaked)
    API_KEY_RATE_LIMITS = {"standard": 100, "premium": 1000, "enterprise": 10000}  # per hour
    API_KEY_LAST_USED_PRECISION = 60  # seconds; last_used_at is written at most this often
    SELF_HOSTED = False  # true: no per-key rate limit (Sure's self-hosted mode)
    GLOBAL_API_KEY = ""  # legacy global key (>= 32 chars); off when unset or shorter
    GLOBAL_API_KEY_FAMILY_ID = ""  # the one family the global key may read
    # Permissions of the global key outside production (a subset of the read-only views);
    # in production it always has identity.roles.LEGACY_GLOBAL_PERMISSIONS (RedCloud, T29).
    GLOBAL_API_KEY_PERMISSIONS = ""  # comma-separated; "" = the legacy set

    # --- first-party (Sure) account API --------------------------------------------------------
    REQUIRE_INVITE_CODE = False  # signup needs an invite code (`flask invites create`)
    AI_AVAILABLE = True  # false: enable_ai answers "AI is not available for your account"
    RESET_RUNNER = "thread"  # "thread": run family resets in-process; "none": `flask jobs work`
    DEACTIVATED_USER_PURGE_AFTER = 0  # seconds before `jobs work` deletes a deactivated user

    # --- mail ---------------------------------------------------------------------------------
    MAIL_BACKEND = ""  # "smtp" | "file" | "console"; "" = "smtp" with MAIL_SERVER, else "file"
    MAIL_SERVER = ""  # SMTP host; empty = no SMTP (the file backend writes instance/mail/*.eml)
    MAIL_PORT = 587  # SMTP port (submission; 465 with MAIL_USE_SSL)
    MAIL_USE_TLS = True  # STARTTLS after connecting (not used with MAIL_USE_SSL)
    MAIL_USE_SSL = False  # TLS from the first byte (SMTPS)
    MAIL_USERNAME = ""  # SMTP login; empty = no AUTH
    MAIL_PASSWORD = ""  # SMTP password: set it in the environment or instance/config.py
    MAIL_TIMEOUT = 10  # seconds per SMTP connection attempt and command
    MAIL_SENDER = "Tollgate <no-reply@localhost>"  # the From header
    MAIL_OUTBOX_RETENTION = 7 * 24 * 3600  # seconds a sent message stays before `tokens purge`

    # --- access keys (SecureCloud) ------------------------------------------------------------
    ACCESS_KEY_DEFAULT_EXPIRATION = "6m"  # preset when a new key names none: 1m, 3m, 6m or 12m
    ACCESS_KEY_MAX_CUSTOM_DAYS = 730  # the longest custom expiry, in days (at least 1)

    # --- secret keys (SureCloud) -------------------------------------------------------------
    SECRET_KEY_JWT_LIFETIME = 3600  # seconds a secret-key JWT is valid (seed 000: 60 minutes)
    SECRET_KEY_REVEAL_LINK_LIFETIME = 7 * 24 * 3600  # seconds a mailed reveal link is usable
    SECRET_KEY_API_GUIDE_URL = ""  # the API guide the key mail points to; "" = <base URL>/api/docs
    SECRET_KEY_HOSTNAME_CACHE_SECONDS = 60  # how long a hostname restriction's lookup is reused
    MAIL_PRODUCT_NAME = "SureCloud"  # product name in the key mail's subject and sign-off
    RATE_LIMIT_SECRET_KEY_TOKEN_IP = "30 per 15 minutes"  # failed token requests per client IP
    RATE_LIMIT_SECRET_KEY_TOKEN_EMAIL = "10 per 15 minutes"  # failed token requests per email

    # --- audit log (the tenant's log: /api/v1/admin/audit_events, /admin/audit) --------------
    AUDIT_LOG_EXPORT_BATCH_SIZE = 500  # events read per query while an export streams

    # --- partner organisations (Surfsight) ----------------------------------------------------
    ORG_ADMIN_TOKEN_LIFETIME = 86400  # seconds an organisation admin token is valid (seed: 24 h)
    PARTNER_ASSERTION_LIFETIME = 900  # seconds a partner SSO assertion's timestamp stays valid
    PARTNER_ASSERTION_LEEWAY = 60  # seconds a timestamp may lie in the future (clock skew)
    RATE_LIMIT_PARTNER_SSO_IP = "30 per 15 minutes"  # failed SSO exchanges per client IP

    # --- break-glass master key (RedCloud X-Master-Key; app/breakglass) ------------------------
    BREAK_GLASS_ENABLED = False  # off by default; on only with MASTER_KEY and a future expiry
    MASTER_KEY = ""  # the break-glass key, at least 32 characters; never logged nor audited
    BREAK_GLASS_EXPIRES_AT = ""  # ISO 8601 UTC end of the window, e.g. 2026-01-31T18:00:00Z
    # Comma-separated permissions the master key grants; never *, platform or minting ones.
    BREAK_GLASS_PERMISSIONS = "audit.view,admin.users,scans.view,dashboard.view"
    BREAK_GLASS_TENANTS = ""  # optional comma-separated allowlist of tenant ids; "" = any
    BREAK_GLASS_RATE_LIMIT = "30 per 1 hour"  # break-glass requests, whole deployment
    BREAK_GLASS_RATE_LIMIT_IP = "10 per 1 hour"  # break-glass requests per client IP

    # --- session tokens (RedCloud /auth/login) ------------------------------------------------
    SESSION_ACCESS_TOKEN_LIFETIME = 900  # seconds a session access JWT is valid (15 minutes)
    SESSION_REFRESH_TOKEN_LIFETIME = 1209600  # seconds each session refresh token is valid (14 d)
    # Seconds a rotated session refresh token may be presented again for a sibling pair instead
    # of ending the session; 0 = strict (one winner, a replay revokes the session).
    SESSION_REFRESH_REUSE_INTERVAL = 0

    # --- throttling (limits syntax: "N per M minutes") ----------------------------------------
    RATE_LIMIT_ENABLED = True  # switch every throttle off (benchmarks only)
    RATE_LIMIT_LOGIN_ACCOUNT = "10 per 15 minutes"  # failed sign-ins per account
    RATE_LIMIT_LOGIN_IP = "50 per 15 minutes"  # failed sign-ins per client IP
    RATE_LIMIT_OTP_ACCOUNT = "5 per 5 minutes"  # wrong one-time codes per account
    RATE_LIMIT_SIGNUP_IP = "10 per 1 hour"  # signups per client IP
    RATE_LIMIT_REGISTER_IP = "10 per 1 minute"  # dynamic client registrations per client IP
    RATE_LIMIT_AUTH_FAILURES_IP = "60 per 1 minute"  # bad tokens / API keys per client IP
    RATE_LIMIT_INTROSPECT_CLIENT = "1200 per 1 minute"  # introspection calls per client


_SECRET_KEYS = (
    "SECRET_KEY",
    "ENCRYPTION_KEYS",
    "SECRET_KEY_JWT_KEY",
    "ACCESS_KEY_JWT_KEY",
    "PARTNER_SSO_KEY",
    "SESSION_JWT_KEY",
)
# The shortest key each JWT profile accepts (HMAC keys at least as long as the hash output).
_MIN_KEY_LENGTH = {
    "SECRET_KEY_JWT_KEY": 64,
    "ACCESS_KEY_JWT_KEY": 32,
    "PARTNER_SSO_KEY": 32,
    "SESSION_JWT_KEY": 32,
}
_ALIASES = {"DATABASE_URL": "SQLALCHEMY_DATABASE_URI"}


def _parse_env(value: str, default: Any) -> Any:
    if isinstance(default, bool) or default is None:
        lowered = value.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        if default is None and lowered in {"", "auto"}:
            return None
        raise ConfigurationError(f"expected true or false, got {value!r}")
    if isinstance(default, int):
        return int(value)
    if isinstance(default, list):
        # A JSON array (e.g. SSO_PROVIDERS' dicts), or space-separated words.
        return json.loads(value) if value.lstrip().startswith("[") else value.split()
    if isinstance(default, dict):
        return json.loads(value)
    return value


def load_config(app: Flask, overrides: dict[str, Any] | None = None) -> None:
    """Fill ``app.config`` in order: defaults, instance/config.py, environment, overrides."""
    app.config.from_object(DefaultConfig)
    app.config.from_pyfile("config.py", silent=True)
    for key, default in vars(DefaultConfig).items():
        if key.isupper() and key in os.environ:
            try:
                app.config[key] = _parse_env(os.environ[key], default)
            except (ValueError, ConfigurationError) as exc:
                raise ConfigurationError(f"environment variable {key}: {exc}") from exc
    for env_name, key in _ALIASES.items():
        if os.environ.get(env_name):
            app.config[key] = os.environ[env_name]
    app.config.update(overrides or {})

    production = app.config["APP_ENV"] == "production"
    embedded = not app.config["SQLALCHEMY_DATABASE_URI"]
    if embedded:
        if production:
            raise ConfigurationError("DATABASE_URL must be set when APP_ENV=production")
        os.makedirs(app.instance_path, exist_ok=True)
        path = Path(app.instance_path, "tollgate.sqlite3")
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
    if app.config["AUTO_MIGRATE"] is None:
        app.config["AUTO_MIGRATE"] = embedded
    if app.config["SESSION_COOKIE_SECURE"] is None:
        app.config["SESSION_COOKIE_SECURE"] = app.config["APP_ENV"] != "development"
    app.config["APP_URL"] = app.config["APP_URL"].rstrip("/")
    region = str(app.config["REGION"]).strip()
    if not region or len(region) > 32:
        raise ConfigurationError("REGION must be a name of 1 to 32 characters, e.g. us or eu")
    app.config["REGION"] = region
    global_key = app.config["GLOBAL_API_KEY"] or ""
    if global_key and global_key.startswith(app.config["API_KEY_PREFIX"]):
        raise ConfigurationError(
            "GLOBAL_API_KEY must not start with API_KEY_PREFIX: it would pass for a personal key"
        )
    _load_secrets(app, production)
    _configure_engine(app)


def _generate_secret(key: str) -> str:
    if key == "ENCRYPTION_KEYS":
        return Fernet.generate_key().decode()
    return secrets.token_urlsafe(64 if key in _MIN_KEY_LENGTH else 48)


def _load_secrets(app: Flask, production: bool) -> None:
    _generate_missing_secrets(app, production)
    for key, length in _MIN_KEY_LENGTH.items():
        if len(app.config[key]) < length:
            raise ConfigurationError(f"{key} must be at least {length} characters")


def _generate_missing_secrets(app: Flask, production: bool) -> None:
    missing = [key for key in _SECRET_KEYS if not app.config.get(key)]
    if not missing:
        return
    if production:
        raise ConfigurationError(
            f"{', '.join(missing)} must be set when APP_ENV=production "
            "(environment variables or instance/config.py); refusing to start"
        )
    os.makedirs(app.instance_path, exist_ok=True)
    path = Path(app.instance_path, "secrets.json")
    stored: dict[str, str] = {}
    # Locked: workers starting together must agree on one key, or a token signed by one
    # worker would not verify on another.
    with open(Path(app.instance_path, ".secrets.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            stored = json.loads(path.read_text())
        if any(key not in stored for key in missing):
            for key in missing:
                stored.setdefault(key, _generate_secret(key))
            # Created 0600 from the start so the secrets are never world-readable, not even
            # briefly.
            fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(stored, handle, indent=2)
            os.replace(path.with_suffix(".tmp"), path)
    for key in missing:
        app.config[key] = stored[key]


POSTGRES_CONNECT_TIMEOUT = 5  # seconds; SQLALCHEMY_ENGINE_OPTIONS' connect_args override it


def _configure_engine(app: Flask) -> None:
    uri: str = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgres://"):
        uri = "postgresql://" + uri.removeprefix("postgres://")
    if uri.startswith("postgresql://"):
        # psycopg 3 is the driver we ship; plain postgresql:// would look for psycopg2.
        uri = "postgresql+psycopg://" + uri.removeprefix("postgresql://")
    app.config["SQLALCHEMY_DATABASE_URI"] = uri
    options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
    if uri.startswith("sqlite"):
        options.setdefault("connect_args", {"timeout": 30})
    else:
        # No pool_pre_ping (a ping per checkout): extensions.ping_idle_connections pings only
        # connections that sat idle (installed unless pool_pre_ping is configured).
        # A database host that drops packets must not hold a request (or /readyz) until TCP
        # gives up: libpq stops trying after this many seconds.
        options.setdefault("connect_args", {"connect_timeout": POSTGRES_CONNECT_TIMEOUT})
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def current_region() -> str:
    """The region of this instance (config REGION); the default outside an application."""
    return str(current_app.config["REGION"]) if has_app_context() else DefaultConfig.REGION
