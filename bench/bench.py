#!/usr/bin/env python3
"""Tollgate's benchmark: gunicorn sync workers on loopback, wrk from Debian, interleaved
rounds, medians and ratios against baselines measured in the same run.

Cases
  A  baseline  GET /ping                         Flask + gunicorn ceiling
  B  baseline  GET /me (Bearer, SHA-256 lookup)  the minimal honest token check
  C0 tollgate  GET /api/v1/usage, Bearer         the gate alone (no resource query): like B
  S  tollgate  GET /api/v1/usage, session JWT    HS256 verify + row, session and user re-checked
  D0 tollgate  GET /api/v1/usage, X-Api-Key      the same with a personal API key
  C  tollgate  GET /api/v1/accounts, Bearer      the gate + rate limiter + usage + correlation id
  D  tollgate  GET /api/v1/accounts, X-Api-Key   the same with a personal API key
  E  tollgate  POST /api/v1/auth/login           argon2id verify + device upsert + token write
  F  tollgate  POST /api/v1/auth/refresh         rotation, a fresh never-used token per request
  SR tollgate  POST /auth/refresh (sessions)     a session's rotation: new JWT + refresh token
  T  tollgate  GET /api/v1/tasks, opaque Bearer  the JWT cases' yardstick: same route, same query
  TS tollgate  GET /api/v1/tasks, secret-key JWT HS512 verify + key/token/user/IP checks per request
  TA tollgate  GET /api/v1/tasks, access-key JWT HS256 verify + key and roles looked up per request
  TO tollgate  GET /api/v1/tasks, org admin token opaque UUID: digest lookup joined with its org
  G  tollgate  POST /api/v1/auth/token           secret key -> HS512 JWT (digest check, token row)
  CC tollgate  POST /oauth/token client_credentials  client_secret_basic, digested secret
  I  tollgate  POST /oauth/introspect            RFC 7662, client_secret_basic caller
  AL authlib   GET /api/me                       stock ResourceProtector + SQLAlchemy validator
  ALC authlib  POST /oauth/token client_credentials  plaintext secret (the stock client mixin)
  DG dot       GET /api/me                       django-oauth-toolkit's ProtectedResourceView
  DC dot       POST /o/token/ client_credentials plaintext secret (hash_client_secret=False)
  DCH dot      POST /o/token/ client_credentials hashed secret (DOT's default, PBKDF2)
  DR dot       POST /o/token/ refresh_token      rotation, a never-used token per request
  DI dot       POST /o/introspect/               bearer-authenticated caller
  X10K scale10k GET /api/v1/usage, Bearer        C0's request on a database of 10k live tokens
  X1M scale1m  GET /api/v1/usage, Bearer         the same on 1M live tokens (BENCH_SCALE_ROWS)
  XP scale1m   GET /api/v1/usage, Bearer         the same while `flask tokens purge` deletes 1M
                                                 expired rows (re-seeded before each run)

Every case runs on each database of ``--databases`` (BENCH_DATABASES: sqlite, postgres): on
PostgreSQL every app has its own database on 127.0.0.1:5432 (psycopg 3; names start with
BENCH_PG_PREFIX) and Tollgate keeps its rate-limit counters in Redis (BENCH_REDIS_URL, db 15),
as production runs it. The scale cases run Tollgate on two databases of their own (10k and
BENCH_SCALE_ROWS live tokens), seeded once per run and database kind. The peers (bench/peers/) run
from their own venv (bench/peers-requirements.txt) under the same gunicorn settings.

Run by bench/run.sh (which makes the venvs and installs wrk); see bench/README.md.
``--cases`` (BENCH_CASES) runs only the named cases; a server none of them uses is not started.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlencode

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE / "peers"))
from consts import (  # noqa: E402 (bench/peers/consts.py: the peers' toy credentials)
    AUTHLIB_BENCH_TOKEN,
    AUTHLIB_CLIENT_ID,
    AUTHLIB_CLIENT_SECRET,
    DOT_AC_PLAIN_ID,
    DOT_BENCH_TOKEN,
    DOT_CC_HASHED_ID,
    DOT_CC_PLAIN_ID,
    DOT_SECRET,
)

BIN = Path(sys.executable).parent
PASSWORD = "Bench-password-1!"
DEVICE = {
    "device_id": "bench-device",
    "device_name": "Bench",
    "device_type": "ios",
    "os_version": "17.0",
    "app_version": "1.0.0",
}
CASES = {
    "A": ("baseline", "GET /ping (Flask + gunicorn ceiling)"),
    "B": ("baseline", "GET /me, one SHA-256 token lookup (the minimal baseline)"),
    "C0": ("tollgate", "GET /api/v1/usage with Bearer (the gate alone: no resource query)"),
    "S": ("tollgate", "GET /api/v1/usage with a session JWT (row, session, user re-checked)"),
    "D0": ("tollgate", "GET /api/v1/usage with X-Api-Key (the gate + the per-key limiter)"),
    "C": ("tollgate", "GET /api/v1/accounts with Bearer (gate, limiter, usage, correlation id)"),
    "D": ("tollgate", "GET /api/v1/accounts with X-Api-Key (per-key hourly limiter on)"),
    "E": ("tollgate", "POST /api/v1/auth/login (argon2id verify, device, token write)"),
    "F": ("tollgate", "POST /api/v1/auth/refresh, a never-used refresh token per request"),
    "SR": ("tollgate", "POST /auth/refresh of a session lineage, a never-used token per request"),
    "T": ("tollgate", "GET /api/v1/tasks with an opaque Bearer token (the JWT cases' yardstick)"),
    "TS": ("tollgate", "GET /api/v1/tasks with a secret-key JWT (key, token, user, IP re-checked)"),
    "TA": ("tollgate", "GET /api/v1/tasks with an access-key JWT (key and roles looked up)"),
    "TO": ("tollgate", "GET /api/v1/tasks with an org admin token (digest + organisation join)"),
    "G": ("tollgate", "POST /api/v1/auth/token: secret key -> HS512 JWT"),
    "CC": ("tollgate", "POST /oauth/token client_credentials (digested secret, token row)"),
    "I": ("tollgate", "POST /oauth/introspect (client_secret_basic caller, active token)"),
    "AL": ("authlib", "stock Authlib: GET /api/me behind ResourceProtector"),
    "ALC": ("authlib", "stock Authlib: POST /oauth/token client_credentials, plaintext secret"),
    "DG": ("dot", "DOT: GET /api/me, ProtectedResourceView"),
    "DC": ("dot", "DOT: POST /o/token/ client_credentials, plaintext secret"),
    "DCH": ("dot", "DOT: POST /o/token/ client_credentials, hashed secret (DOT default)"),
    "DR": ("dot", "DOT: POST /o/token/ refresh_token, rotation, never-used token per request"),
    "DI": ("dot", "DOT: POST /o/introspect/ (bearer-authenticated caller)"),
    "X10K": ("scale10k", "GET /api/v1/usage with Bearer, 10k live tokens (scale yardstick)"),
    "X1M": ("scale1m", "GET /api/v1/usage with Bearer, 1M live tokens"),
    "XP": ("scale1m", "the same while `flask tokens purge` deletes 1M expired rows"),
}
SERVER_ORDER = ("baseline", "tollgate", "scale10k", "scale1m", "authlib", "dot")
# The scale servers are Tollgate on databases of their own: how many live filler tokens each.
SCALE_ROWS = int(os.environ.get("BENCH_SCALE_ROWS", "1000000"))
SCALE_FILLER = {"scale10k": 10_000, "scale1m": SCALE_ROWS}
# XP: seconds to wait for the purge after its wrk run (then it is stopped and said so), the
# --batch-size it is given (empty: the app's TOKEN_PURGE_BATCH_SIZE, as production runs), and
# in how many rounds it runs (the first ones: each re-seeds SCALE_ROWS expired rows first).
PURGE_TIMEOUT = int(os.environ.get("BENCH_PURGE_TIMEOUT", "180"))
PURGE_BATCH = os.environ.get("BENCH_PURGE_BATCH", "")
XP_ROUNDS = int(os.environ.get("BENCH_XP_ROUNDS", "1"))
# Per case, the peers' case of the same kind: (stock Authlib, django-oauth-toolkit).
GET_PEERS = ("AL", "DG")
PEER_OF: dict[str, tuple[str | None, str | None]] = {
    **{
        c: GET_PEERS
        for c in ("A", "B", "C0", "S", "D0", "C", "D", "T", "TS", "TA", "TO", "X10K", "X1M", "XP")
    },
    **{c: GET_PEERS for c in ("AL", "DG")},
    **{c: ("ALC", "DC") for c in ("G", "CC", "ALC", "DC", "DCH")},
    **{c: (None, "DR") for c in ("F", "SR", "DR")},
    **{c: (None, "DI") for c in ("I", "DI")},
}
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
# Every bench database's name starts with this (dropped and created again on each run).
PG_PREFIX = os.environ.get("BENCH_PG_PREFIX", "tollgate_bench")
if not re.fullmatch(r"[a-z_][a-z0-9_]*", PG_PREFIX):
    raise SystemExit("BENCH_PG_PREFIX: lower-case letters, digits and _ only")
PEERS = HERE / "peers"
SESSION_JWT_LIFETIME = 7200  # seconds: longer than any run (BENCH_BUDGET_S)
_running: list[subprocess.Popen] = []


def basic(client_id: str, secret: str) -> str:
    """client_secret_basic (RFC 6749 §2.3.1: both parts form-encoded first)."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


# --- seeding ---------------------------------------------------------------------------------


def pg_database_name(app: str) -> str:
    """The PostgreSQL database of ``app`` (``tollgate`` is the prefix itself)."""
    return PG_PREFIX if app == "tollgate" else f"{PG_PREFIX}_{app}"


def database_urls(data: Path, database: str) -> dict[str, str]:
    """Where each app keeps its data: SQLite files under ``data``, or one PostgreSQL database
    per app (created by ``create_pg_databases``). The scale apps are Tollgate instances: their
    ``data`` is a folder of their own (``scale_data``)."""
    if database == "sqlite":
        return {
            **{
                app: f"sqlite:///{data / f'{app}.sqlite3'}"
                for app in ("tollgate", "baseline", "authlib", *SCALE_FILLER)
            },
            "dot": str(data / "dot.sqlite3"),
            "redis": "",
        }
    base = PG_ADMIN.rsplit("/", 1)[0]
    psycopg_base = base.replace("postgresql://", "postgresql+psycopg://")
    return {
        **{app: f"{base}/{pg_database_name(app)}" for app in ("tollgate", "dot", *SCALE_FILLER)},
        **{app: f"{psycopg_base}/{pg_database_name(app)}" for app in ("baseline", "authlib")},
        "redis": REDIS_URL,
    }


def scale_data(data: Path, app: str) -> Path:
    """A scale app's own folder (its secrets, credentials and SQLite file) under ``data``."""
    return data / app


def create_pg_databases(apps: set[str]) -> None:
    """Fresh bench databases (dropped first) for ``apps`` and an empty Redis db for the
    counters."""
    import psycopg
    import redis

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for app in sorted(apps):
            name = pg_database_name(app)
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
    redis.Redis.from_url(REDIS_URL).flushdb()


def tollgate_env(data: Path, database: str = "sqlite", app: str = "tollgate") -> dict[str, str]:
    """The environment of a Tollgate server (and its CLI) on ``app``'s database."""
    secrets_file = data / "secrets.json"
    stored = json.loads(secrets_file.read_text())
    urls = database_urls(data, database)
    return {
        **os.environ,
        # PostgreSQL as production runs it: psycopg 3 with the engine options app/config.py
        # sets (a QueuePool per worker, idle connections pinged), and the counters in Redis.
        "DATABASE_URL": urls[app],
        "REDIS_URL": urls["redis"],
        "AUTHLIB_INSECURE_TRANSPORT": "1",  # plain http on loopback, as for the peers
        "INSTANCE_PATH": str(data / "instance"),
        # Metrics as the README's serve counts them: every worker writes its samples to
        # files (prometheus_client's multiprocess mode), so every case pays what production
        # pays for /metrics (Server.start empties the directory).
        "PROMETHEUS_MULTIPROC_DIR": str(data / f"prometheus-{app}"),
        "SECRET_KEY": stored["SECRET_KEY"],
        "ENCRYPTION_KEYS": stored["ENCRYPTION_KEYS"],
        "SECRET_KEY_JWT_KEY": stored["SECRET_KEY_JWT_KEY"],
        "ACCESS_KEY_JWT_KEY": stored["ACCESS_KEY_JWT_KEY"],
        "SESSION_JWT_KEY": stored["SESSION_JWT_KEY"],
        "APP_ENV": "development",
        "AUTO_MIGRATE": "false",
        # The per-key limiter still counts every request; it just never refuses one here.
        "API_KEY_RATE_LIMITS": json.dumps(
            {t: 10**12 for t in ("standard", "premium", "enterprise")}
        ),
        # Successful sign-ins never spend the failure budgets; wrk may still retry on errors.
        "RATE_LIMIT_LOGIN_ACCOUNT": "1000000 per 1 minute",
        "RATE_LIMIT_LOGIN_IP": "1000000 per 1 minute",
        # Strict rotation, so the check's immediate replay must be refused (F presents only
        # never-used tokens; the retry window changes nothing it measures).
        "FIRST_PARTY_REFRESH_REUSE_INTERVAL": "0",
        "RATE_LIMIT_SECRET_KEY_TOKEN_IP": "1000000 per 1 minute",
        "RATE_LIMIT_SECRET_KEY_TOKEN_EMAIL": "1000000 per 1 minute",
        # The run outlasts a 15-minute session JWT; the seeded one must live through it.
        "SESSION_ACCESS_TOKEN_LIFETIME": str(SESSION_JWT_LIFETIME),
        # The limiter still counts every introspection; it just never refuses one here.
        "RATE_LIMIT_INTROSPECT_CLIENT": "1000000000 per 1 minute",
    }


SEED_BATCH = 5000  # rows per INSERT executemany


def token_rows(
    count: int,
    ids: dict[str, Any],
    *,
    now: datetime,
    access_expires_at: datetime,
    refresh: bool = False,
    profile: str = "mobile",
    session_epoch: int | None = None,
) -> tuple[list[dict], list[str]]:
    """``count`` oauth2_tokens rows of the bench user (``ids``: ``user_id``, ``family_id``,
    ``client_id`` of the bench client, ``mobile_client_id`` of the first-party one) and the
    plaintext refresh tokens of those that have one."""
    from app import crypto
    from app.sessions import tokens as sessions

    plain, batch = [], []
    for _ in range(count):
        value = (
            sessions.new_refresh_token(session_epoch)
            if profile == "session"
            else crypto.new_token(crypto.PREFIX_REFRESH_TOKEN)
        )
        plain.append(value)
        batch.append(
            {
                "id": uuid.uuid4(),
                "lineage_id": uuid.uuid4(),
                "client_id": ids["mobile_client_id"] if refresh else ids["client_id"],
                "user_id": ids["user_id"],
                "family_id": ids["family_id"],
                "grant_type": "password",
                "profile": profile,
                "scope": "read_write",
                "lineage_scope": "read_write",
                "access_token_digest": crypto.digest(crypto.new_token("tga_")),
                "refresh_token_digest": crypto.digest(value) if refresh else None,
                "issued_at": now,
                "access_expires_at": access_expires_at,
                "refresh_expires_at": (now + timedelta(days=14) if profile == "session" else None),
            }
        )
    return batch, plain


def insert_tokens(count: int, ids: dict[str, Any], **row_options: Any) -> None:
    """Bulk-insert ``count`` token rows (``token_rows``' options), ``SEED_BATCH`` per
    executemany and a commit per 10 batches, so a million rows never sit in memory at once."""
    from sqlalchemy import insert

    from app.extensions import db
    from app.oauth2.models import OAuthToken

    for number, start in enumerate(range(0, count, SEED_BATCH)):
        batch, _ = token_rows(min(SEED_BATCH, count - start), ids, **row_options)
        db.session.execute(insert(OAuthToken), batch)
        if number % 10 == 9:
            db.session.commit()
    db.session.commit()


def bench_app(data: Path, database: str, app_name: str) -> Any:
    """A Tollgate app on ``app_name``'s database with the secrets seed() wrote, in this
    process (seeding only; the servers are gunicorn processes)."""
    env = tollgate_env(data, database, app_name)
    os.environ.update({k: env[k] for k in ("INSTANCE_PATH",)})
    sys.path.insert(0, str(ROOT))
    from app import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"],
            "SECRET_KEY": env["SECRET_KEY"],
            "ENCRYPTION_KEYS": env["ENCRYPTION_KEYS"],
            "SECRET_KEY_JWT_KEY": env["SECRET_KEY_JWT_KEY"],
            "ACCESS_KEY_JWT_KEY": env["ACCESS_KEY_JWT_KEY"],
            "SESSION_JWT_KEY": env["SESSION_JWT_KEY"],
            "SESSION_ACCESS_TOKEN_LIFETIME": SESSION_JWT_LIFETIME,
            "AUTO_MIGRATE": False,
        }
    )


def seed_expired(data: Path, database: str, app_name: str, count: int) -> dict[str, int]:
    """Top ``app_name``'s database up to ``count`` dead token rows (access token expired a
    day ago, no refresh token: what ``tokens purge`` deletes), owned like seed()'s filler.
    Returns the dead rows found and the rows added."""
    from sqlalchemy import func, not_, select

    app = bench_app(data, database, app_name)
    from app.clock import utcnow
    from app.extensions import db
    from app.oauth2.models import OAuthToken

    ids: dict[str, Any] = json.loads((data / "ids.json").read_text())
    ids.update({k: uuid.UUID(ids[k]) for k in ("user_id", "family_id")})
    with app.app_context():
        now = utcnow()
        dead = db.session.scalar(
            select(func.count()).select_from(OAuthToken).where(not_(OAuthToken.live_clause(now)))
        )
        added = max(0, count - int(dead or 0))
        insert_tokens(
            added, ids, now=now - timedelta(days=2), access_expires_at=now - timedelta(days=1)
        )
        db.engine.dispose()
    return {"dead_before": int(dead or 0), "added": added}


def seed(
    data: Path,
    refresh_tokens: int,
    database: str = "sqlite",
    app_name: str = "tollgate",
    filler: int = 10_000,
) -> dict[str, str]:
    """A migrated Tollgate database (``app_name``'s) with a user, a client, ``filler`` live
    filler tokens, a real access token, an API key, three accounts, a session, and
    ``refresh_tokens`` never-used refresh tokens of Sure device lineages and as many of
    session lineages (written to refresh_tokens.txt and session_refresh_tokens.txt); the
    rows' owners go to ids.json (``seed_expired`` adds rows of the same owners)."""
    from cryptography.fernet import Fernet
    from sqlalchemy import insert

    data.mkdir(parents=True, exist_ok=True)
    (data / "secrets.json").write_text(
        json.dumps(
            {
                "SECRET_KEY": os.urandom(32).hex(),
                "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                "SECRET_KEY_JWT_KEY": os.urandom(48).hex(),
                "ACCESS_KEY_JWT_KEY": os.urandom(32).hex(),
                "SESSION_JWT_KEY": os.urandom(32).hex(),
            }
        )
    )
    app = bench_app(data, database, app_name)
    from app import crypto, dbupgrade
    from app.apikeys import services as apikeys
    from app.clock import utcnow
    from app.extensions import db
    from app.identity import users
    from app.oauth2.models import OAuthToken
    from app.oauth2.services import clients, tokens
    from app.oauth2.services.clients import first_party_client
    from app.requestctx import SYSTEM
    from app.resources import services as resources
    from app.sessions import tokens as sessions

    dbupgrade.upgrade(app)
    with app.app_context():
        now = utcnow()
        user = users.create_user(
            email="bench@example.com", password=PASSWORD, role="admin", now=now
        )
        registered = clients.create_client(
            name="bench",
            redirect_uris=["https://bench.example/cb"],
            grant_types=["authorization_code", "refresh_token"],
            scope="read read_write",
            public=False,
            now=now,
        )
        client = registered.client
        service = clients.create_client(
            name="bench-service",
            redirect_uris=[],
            grant_types=["client_credentials"],
            scope="read",
            public=False,
            now=now,
        )
        access = {
            "access_token": crypto.new_token(crypto.PREFIX_ACCESS_TOKEN),
            "token_type": "Bearer",
            "expires_in": 31536000,
            "scope": "read_write",
        }
        tokens.save_token(
            access,
            client=client,
            user=user,
            grant_type="authorization_code",
            lineage=tokens.Lineage(lineage_id=uuid.uuid4()),
            now=now,
            caller=SYSTEM,
        )
        key = apikeys.create_api_key(
            user, name="bench", scope="read_write", tier="enterprise", now=now
        ).key
        for name in ("Checking", "Savings", "Brokerage"):
            resources.create_account(
                family_id=user.family_id, name=name, currency="USD", balance=0, now=now
            )
        mobile = first_party_client(now=now)
        session = sessions.start_session(user, now=now, caller=SYSTEM)
        db.session.commit()
        year = now + timedelta(days=365)
        jwts = _seed_jwt_credentials(user, now=now)
        org_admin = _seed_org_admin_token(now=now)
        ids = {
            "user_id": user.id,
            "family_id": user.family_id,
            "client_id": client.client_id,
            "mobile_client_id": mobile.client_id,
        }
        (data / "ids.json").write_text(json.dumps({k: str(v) for k, v in ids.items()}))
        insert_tokens(filler, ids, now=now, access_expires_at=year)
        minted, refresh_plain = token_rows(
            refresh_tokens, ids, now=now, access_expires_at=year, refresh=True
        )
        minted_sessions, session_plain = token_rows(
            refresh_tokens,
            ids,
            now=now,
            access_expires_at=year,
            refresh=True,
            profile="session",
            session_epoch=user.session_epoch,
        )
        for batch in (minted, minted_sessions):
            for start in range(0, len(batch), SEED_BATCH):
                db.session.execute(insert(OAuthToken), batch[start : start + SEED_BATCH])
        db.session.commit()
        assert registered.client_secret and service.client_secret
        basics = {
            "client_basic": basic(client.client_id, registered.client_secret),
            "service_basic": basic(service.client.client_id, service.client_secret),
        }
        db.engine.dispose()
    (data / "refresh_tokens.txt").write_text("\n".join(refresh_plain) + "\n")
    (data / "session_refresh_tokens.txt").write_text("\n".join(session_plain) + "\n")
    return {
        "access_token": access["access_token"],
        **basics,
        "api_key": key,
        "session_jwt": session["access_token"],
        **jwts,
        **org_admin,
    }


def _seed_jwt_credentials(user: Any, *, now: datetime) -> dict[str, str]:
    """A revealed secret key (IP restrictions that the bench's loopback address matches
    last, so every request runs the whole check), a secret-key JWT, and an access key
    (Global Viewer) — through the services, as the pages and API would."""
    from app.accesskeys import services as accesskeys
    from app.extensions import db
    from app.identity import grants
    from app.mail import services as mail
    from app.resources import services as resources
    from app.secretkeys.services import ip_restrictions, keys, reveal
    from app.secretkeys.services import tokens as secret_key_tokens

    for title in ("Rotate the keys", "Review access", "Patch servers"):
        resources.create_task(user.family_id, title=title, now=now)
    keys.add_secret_key(user, actor_id=None, now=now, request_base_url="http://bench.invalid")
    body = mail.outbox(to=user.email, limit=1)[0]["body"]
    link = re.search(r"/secret_key/reveal/(\S+)", body)
    assert link, "the reveal mail has no link"
    secret = reveal.reveal(link.group(1), user_id=user.id, now=now)
    ip_restrictions.set_restrictions(
        user,
        "203.0.113.0/24, 2001:db8::/32, 198.51.100.7-198.51.100.9, 127.0.0.0/8",
        actor_id=None,
        now=now,
    )
    issued = secret_key_tokens.issue_token(user.email, secret, now=now)
    grants.grant_role(user, "global_admin", granter=None, now=now)
    access_key = accesskeys.create_access_key(
        user, name="bench", roles=[{"role": "global_viewer"}], expiration="12m", now=now
    )
    db.session.commit()
    return {
        "secret_key": secret,
        "secret_key_jwt": issued.token,
        "access_key_jwt": access_key.token,
    }


def _seed_org_admin_token(*, now: datetime) -> dict[str, str]:
    """A Surfsight partner, an organisation with three tasks (as many as T's family), and an
    organisation admin token bought with a partner-signed HS256 assertion — through the
    services, as the API would."""
    from joserfc import jwt
    from joserfc.jwk import OctKey

    from app.partners import services as partners
    from app.partners import tokens as org_tokens
    from app.resources import services as resources

    partner = partners.create_partner_user(email="partner@example.com", password=PASSWORD, now=now)
    created = partners.create_organization(partner, name="bench organisation", now=now)
    organization_id = created.organization.id
    for title in ("Rotate the keys", "Review access", "Patch servers"):
        resources.create_task(organization_id, title=title, now=now)
    claims = {
        "organizationId": str(organization_id),
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    key = OctKey.import_key(created.sso_secret.encode())
    assertion = jwt.encode({"alg": "HS256", "typ": "JWT"}, claims, key, algorithms=["HS256"])
    return {"org_admin_token": org_tokens.exchange(assertion, now=now).token}


# --- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    module: str
    env: dict[str, str]
    cwd: Path
    workers: int
    logs: Path
    bin: Path = BIN  # where its gunicorn lives (the peers have their own venv)
    probe: str = "/ping"  # answers 200 once the workers are up
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        log_file = open(self.logs / f"{self.name}-{self.port}.log", "w")  # noqa: SIM115
        metrics_dir = self.env.get("PROMETHEUS_MULTIPROC_DIR")
        if metrics_dir:  # a fresh start, as serve's (ops.multiprocess.prepare)
            shutil.rmtree(metrics_dir, ignore_errors=True)
            Path(metrics_dir).mkdir(parents=True)
        self.proc = subprocess.Popen(
            [
                str(self.bin / "gunicorn"),
                "-w",
                str(self.workers),
                "-b",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                self.module,
            ],
            cwd=self.cwd,
            env=self.env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _running.append(self.proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {log_file.name}")
            try:
                urllib.request.urlopen(self.url(self.probe), timeout=2)
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start")

    def drain(self, limit: float = 90.0) -> None:
        """Wait until the workers have answered every request wrk left queued (sync workers
        serve the listen backlog in order, so a quick probe answer means it is empty): a
        slow case (DOT's PBKDF2) must not eat into the next case's time."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            start = time.monotonic()
            with contextlib.suppress(urllib.error.URLError, OSError):
                urllib.request.urlopen(self.url(self.probe), timeout=limit)
            if time.monotonic() - start < 0.25:
                return

    def worker_rss_mib(self) -> float | None:
        """The largest resident set of this server's workers (MiB), read from /proc."""
        if self.proc is None:
            return None
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return None
        sizes = []
        for pid in children.split():
            with contextlib.suppress(OSError):
                status = Path(f"/proc/{pid}/status").read_text()
                found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
                if found:
                    sizes.append(int(found.group(1)) / 1024)
        return max(sizes) if sizes else None

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        if self.proc in _running:
            _running.remove(self.proc)
        self.proc = None


def stop_all(*_: object) -> None:
    for proc in list(_running):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    _running.clear()


def http(
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    body: dict | None = None,
    *,
    raw: bool = False,
    form: dict[str, str] | None = None,
) -> tuple[int, dict]:
    """``raw``: the answer is not JSON (the bare JWT); only its status is read. ``form``: an
    application/x-www-form-urlencoded body instead of JSON."""
    data = json.dumps(body).encode() if body is not None else None
    content_type = {"Content-Type": "application/json"} if data else {}
    if form is not None:
        data = urlencode(form).encode()
        content_type = {"Content-Type": "application/x-www-form-urlencoded"}
    request = urllib.request.Request(
        url, data=data, method=method, headers={**(headers or {}), **content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            if raw:
                return response.status, {}
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"{}")
        except ValueError:
            return error.code, {}


def bearer_of(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def check(
    server: Server, creds: dict[str, str], spare_refresh: str | None, spare_session: str | None
) -> list[str]:
    """Each server must really work (and really refuse) before it is measured."""
    failures = []
    if server.name == "authlib":
        return check_authlib(server)
    if server.name == "dot":
        return check_dot(server, spare_refresh)
    if server.name == "baseline":
        if (
            http("GET", server.url("/me"), {"Authorization": f"Bearer {creds['baseline']}"})[0]
            != 200
        ):
            failures.append("B valid token not 200")
        if http("GET", server.url("/me"), {"Authorization": "Bearer nope"})[0] != 401:
            failures.append("B bad token not 401")
        return failures
    bearer = {"Authorization": f"Bearer {creds['access_token']}"}
    status, body = http("GET", server.url("/api/v1/accounts"), bearer)
    if status != 200 or len(body.get("accounts", [])) != 3:
        failures.append(f"C accounts with Bearer: {status}")
    if http("GET", server.url("/api/v1/accounts"), {"Authorization": "Bearer tga_x"})[0] != 401:
        failures.append("C bad token not 401")
    if http("GET", server.url("/api/v1/accounts"), {"X-Api-Key": creds["api_key"]})[0] != 200:
        failures.append("D accounts with X-Api-Key not 200")
    status, _ = http(
        "POST",
        server.url("/api/v1/auth/login"),
        body={"email": "bench@example.com", "password": PASSWORD, "device": DEVICE},
    )
    if status != 200:
        failures.append(f"E login: {status}")
    for case, token in (
        ("TS", creds["secret_key_jwt"]),
        ("TA", creds["access_key_jwt"]),
        ("TO", creds["org_admin_token"]),
    ):
        status, body = http(
            "GET", server.url("/api/v1/tasks"), {"Authorization": f"Bearer {token}"}
        )
        if status != 200 or len(body.get("tasks", [])) != 3:
            failures.append(f"{case} tasks: {status}")
        if (
            http("GET", server.url("/api/v1/tasks"), {"Authorization": f"Bearer {token}x"})[0]
            != 401
        ):
            failures.append(f"{case} tampered JWT not 401")
    token_headers = {"X-email": "bench@example.com", "X-client-secret": creds["secret_key"]}
    if http("POST", server.url("/api/v1/auth/token"), token_headers, raw=True)[0] != 200:
        failures.append("G token endpoint not 200")
    wrong = {**token_headers, "X-client-secret": "0" * 36}
    if http("POST", server.url("/api/v1/auth/token"), wrong, raw=True)[0] != 401:
        failures.append("G wrong secret not 401")
    if spare_refresh:
        status, _ = http(
            "POST", server.url("/api/v1/auth/refresh"), body={"refresh_token": spare_refresh}
        )
        replay, _ = http(
            "POST", server.url("/api/v1/auth/refresh"), body={"refresh_token": spare_refresh}
        )
        if status != 200 or replay != 401:
            failures.append(f"F refresh {status}, replay {replay} (want 200, 401)")
    failures.extend(check_sessions(server, creds, spare_session))
    failures.extend(check_oauth(server, creds))
    return failures


CC_FORM = {"grant_type": "client_credentials", "scope": "read"}


def check_oauth(server: Server, creds: dict[str, str]) -> list[str]:
    """CC: client_credentials issues a token (and a wrong secret is refused); I: the bench
    client's access token introspects as active, a made-up one as inactive."""
    failures = []
    token_url = server.url("/oauth/token")
    status, body = http("POST", token_url, {"Authorization": creds["service_basic"]}, form=CC_FORM)
    if status != 200 or "access_token" not in body:
        failures.append(f"CC client_credentials: {status} {body}")
    wrong = {"Authorization": basic("nobody", "wrong")}
    if http("POST", token_url, wrong, form=CC_FORM)[0] != 401:
        failures.append("CC wrong client not 401")
    introspect = server.url("/oauth/introspect")
    caller = {"Authorization": creds["client_basic"]}
    status, body = http("POST", introspect, caller, form={"token": creds["access_token"]})
    if status != 200 or body.get("active") is not True:
        failures.append(f"I introspection: {status} {body}")
    status, body = http("POST", introspect, caller, form={"token": "tga_nope"})
    if status != 200 or body.get("active") is not False:
        failures.append(f"I unknown token not inactive: {status} {body}")
    return failures


def check_authlib(server: Server) -> list[str]:
    failures = []
    good = {"Authorization": f"Bearer {AUTHLIB_BENCH_TOKEN}"}
    status, body = http("GET", server.url("/api/me"), good)
    if status != 200 or body.get("sub") != "42":
        failures.append(f"AL protected GET: {status}")
    if http("GET", server.url("/api/me"), {"Authorization": "Bearer wrong"})[0] != 401:
        failures.append("AL bad token not 401")
    auth = {"Authorization": basic(AUTHLIB_CLIENT_ID, AUTHLIB_CLIENT_SECRET)}
    status, body = http("POST", server.url("/oauth/token"), auth, form=CC_FORM)
    if status != 200 or "access_token" not in body:
        failures.append(f"ALC client_credentials: {status} {body}")
    wrong = {"Authorization": basic(AUTHLIB_CLIENT_ID, "wrong")}
    if http("POST", server.url("/oauth/token"), wrong, form=CC_FORM)[0] != 401:
        failures.append("ALC wrong secret not 401")
    return failures


def check_dot(server: Server, spare_refresh: str | None) -> list[str]:
    failures = []
    good = {"Authorization": f"Bearer {DOT_BENCH_TOKEN}"}
    if http("GET", server.url("/api/me"), good)[0] != 200:
        failures.append("DG protected GET not 200")
    if http("GET", server.url("/api/me"), {"Authorization": "Bearer wrong"})[0] != 403:
        failures.append("DG bad token not 403 (DOT's answer)")
    token_url = server.url("/o/token/")
    for case, client_id in (("DC", DOT_CC_PLAIN_ID), ("DCH", DOT_CC_HASHED_ID)):
        auth = {"Authorization": basic(client_id, DOT_SECRET)}
        status, body = http("POST", token_url, auth, form=CC_FORM)
        if status != 200 or "access_token" not in body:
            failures.append(f"{case} client_credentials: {status} {body}")
        wrong = {"Authorization": basic(client_id, "wrong")}
        if http("POST", token_url, wrong, form=CC_FORM)[0] != 401:
            failures.append(f"{case} wrong secret not 401")
    if spare_refresh:
        auth = {"Authorization": basic(DOT_AC_PLAIN_ID, DOT_SECRET)}
        form = {"grant_type": "refresh_token", "refresh_token": spare_refresh}
        status, body = http("POST", token_url, auth, form=form)
        replay, _ = http("POST", token_url, auth, form=form)
        if status != 200 or body.get("refresh_token") in (None, spare_refresh) or replay != 400:
            failures.append(f"DR refresh {status}, replay {replay} (want 200, 400)")
    status, body = http("POST", server.url("/o/introspect/"), good, form={"token": DOT_BENCH_TOKEN})
    if status != 200 or body.get("active") is not True:
        failures.append(f"DI introspection: {status} {body}")
    return failures


def check_sessions(server: Server, creds: dict[str, str], spare: str | None) -> list[str]:
    """S: the session JWT is taken (and a tampered one refused) on C0's route; SR: a session
    refresh rotates once and its replay is refused."""
    failures = []
    status, body = http("GET", server.url("/api/v1/usage"), bearer_of(creds["session_jwt"]))
    if status != 200 or body.get("authentication_method") != "session_token":
        failures.append(f"S usage with the session JWT: {status} {body}")
    if http("GET", server.url("/api/v1/usage"), bearer_of(creds["session_jwt"] + "x"))[0] != 401:
        failures.append("S tampered session JWT not 401")
    if spare:
        status, body = http("POST", server.url("/auth/refresh"), body={"refresh_token": spare})
        replay, _ = http("POST", server.url("/auth/refresh"), body={"refresh_token": spare})
        if status != 200 or body.get("expires_in") != SESSION_JWT_LIFETIME or replay != 401:
            failures.append(f"SR refresh {status}, replay {replay} (want 200, 401)")
    return failures


# --- wrk -------------------------------------------------------------------------------------

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def _ms(text: str) -> float | None:
    match = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(match.group(1)) * UNITS[match.group(2)] if match else None


def wrk(
    url: str,
    seconds: int,
    logs: Path,
    name: str,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
    env: dict[str, str] | None = None,
) -> dict:
    command = ["wrk", "-t2", "-c16", f"-d{seconds}s", "--timeout", "30s", "--latency"]
    for key, value in (headers or {}).items():
        command += ["-H", f"{key}: {value}"]
    if script:
        command += ["-s", str(script)]
    command.append(url)
    out = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        env={**os.environ, **(env or {})},
        check=False,
    ).stdout
    (logs / f"wrk-{name}.txt").write_text(out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"\s50%\s+(\S+)", out)
    p99 = re.search(r"\s99%\s+(\S+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:\s+(.*)", out)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50": _ms(p50.group(1)) if p50 else None,
        "p99": _ms(p99.group(1)) if p99 else None,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1).strip() if errors else "",
    }


def argon2_verify_ms(samples: int = 15) -> tuple[float, float]:
    """In-process argon2id verify time with the production parameters (argon2-cffi defaults,
    which Tollgate uses unless configured otherwise), measured in this run: wall-clock and
    CPU milliseconds (with parallelism 4 one verify keeps more than one core busy)."""
    from argon2 import PasswordHasher

    hasher = PasswordHasher()
    stored = hasher.hash(PASSWORD)
    wall, cpu = [], []
    for _ in range(samples):
        start, start_cpu = time.perf_counter(), time.process_time()
        hasher.verify(stored, PASSWORD)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


# --- the run ---------------------------------------------------------------------------------

REFRESH_CASES = ("F", "SR", "DR")  # never warmed up: a warm-up would spend their tokens
NO_WARM_UP = (*REFRESH_CASES, "DCH")  # DCH: a few requests a second, nothing to warm


def seed_database(
    args: argparse.Namespace, database: str, data: Path
) -> tuple[dict[str, str], dict[str, list[str]], dict[str, list[str]]]:
    """Seed every app that a selected case needs on ``database``; returns the credentials,
    one spare refresh token per round for the checks, and the rest of each refresh pool."""
    data.mkdir(parents=True, exist_ok=True)
    servers = {CASES[case][0] for case in args.selected}
    urls = database_urls(data, database)
    if database == "postgres":
        create_pg_databases(servers)
    creds: dict[str, str] = {}
    spares: dict[str, list[str]] = {}
    pools: dict[str, list[str]] = {}
    peers_python = str(args.peers_venv / "bin" / "python")

    def split(case: str, path: Path) -> None:
        tokens = path.read_text().split()
        spares[case], pools[case] = tokens[: args.rounds], tokens[args.rounds :]

    if "tollgate" in servers:
        # Enough never-used refresh tokens for every round at ~2000/s (an undersized file
        # would show as non-2xx, never as reuse).
        needed = args.rounds * args.duration * 2500 + 100
        log(f"{database}: seeding Tollgate ({needed} refresh tokens per refresh case)")
        subprocess.run(
            [str(BIN / "python"), __file__, "--seed-only", str(data), database, str(needed)],
            check=True,
        )
        creds.update(json.loads((data / "creds.json").read_text()))
        split("F", data / "refresh_tokens.txt")
        split("SR", data / "session_refresh_tokens.txt")
    for app, filler in SCALE_FILLER.items():
        if app not in servers:
            continue
        app_data = scale_data(data, app)
        log(f"{database}: seeding Tollgate's {app} database ({filler} live filler tokens)")
        start = time.monotonic()
        subprocess.run(
            [str(BIN / "python"), __file__, "--seed-only", str(app_data), database, "0",
             "--app", app, "--filler", str(filler)],
            check=True,
        )  # fmt: skip
        settle(app_data, database, app)
        args.seed_seconds.setdefault(database, {})[app] = time.monotonic() - start
        log(f"{database}: {app} seeded in {args.seed_seconds[database][app]:.0f} s")
        scoped = json.loads((app_data / "creds.json").read_text())
        creds.update({f"{app}.{key}": value for key, value in scoped.items()})
    if "baseline" in servers:
        creds["baseline"] = "bl_" + os.urandom(32).hex()
        subprocess.run(
            [
                str(BIN / "python"),
                str(HERE / "baseline_app.py"),
                "seed",
                str(data / "baseline.sqlite3"),
                creds["baseline"],
            ],
            check=True,
            env={**os.environ, **baseline_env(data, urls)},
        )
    if "authlib" in servers:
        log(f"{database}: seeding stock Authlib")
        subprocess.run(
            [peers_python, "authlib_app.py", "seed"],
            check=True,
            cwd=PEERS,
            env={**os.environ, "BENCH_PEER_DB_URL": urls["authlib"]},
        )
    if "dot" in servers:
        # DOT rotates a few hundred per second; this leaves ample room.
        needed = args.rounds * args.duration * 800 + args.rounds + 50
        log(f"{database}: seeding django-oauth-toolkit ({needed} refresh tokens)")
        subprocess.run(
            [peers_python, "-m", "dotsite.seed", str(needed), str(data / "dot_refresh.txt")],
            check=True,
            cwd=PEERS,
            env={**os.environ, "BENCH_DOT_DB": urls["dot"]},
        )
        split("DR", data / "dot_refresh.txt")
    return creds, spares, pools


def settle(data: Path, database: str, app: str) -> None:
    """After a bulk insert, the state a long-running database is in: on PostgreSQL the table
    vacuumed and analysed (autovacuum's work), on SQLite the WAL checkpointed."""
    url = database_urls(data, database)[app]
    if database == "postgres":
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE oauth2_tokens")
        return
    import sqlite3

    with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def creds_for(creds: dict[str, str], server: str) -> dict[str, str]:
    """A scale server's own credentials (seeded into its own database), else ``creds``."""
    prefix = f"{server}."
    scoped = {k.removeprefix(prefix): v for k, v in creds.items() if k.startswith(prefix)}
    return scoped or creds


def baseline_env(data: Path, urls: dict[str, str]) -> dict[str, str]:
    env = {"BENCH_BASELINE_DB": str(data / "baseline.sqlite3")}
    if not urls["baseline"].startswith("sqlite"):
        env["BENCH_BASELINE_URL"] = urls["baseline"]
    return env


def make_servers(
    args: argparse.Namespace, database: str, data: Path, logs: Path
) -> dict[str, Server]:
    """The servers that a selected case needs (the others may not be seeded)."""
    urls = database_urls(data, database)
    peers_bin = args.peers_venv / "bin"
    needed = {CASES[case][0] for case in args.selected}

    def tollgate(app: str, app_data: Path) -> Server:
        env = tollgate_env(app_data, database, app)
        return Server(app, "wsgi:app", env, ROOT, args.workers, logs, probe="/login")

    factories = {
        "baseline": lambda: Server(
            "baseline",
            "baseline_app:app",
            {**os.environ, **baseline_env(data, urls)},
            HERE,
            args.workers,
            logs,
        ),
        "tollgate": lambda: tollgate("tollgate", data),
        **{app: (lambda app=app: tollgate(app, scale_data(data, app))) for app in SCALE_FILLER},
        "authlib": lambda: Server(
            "authlib",
            "authlib_app:app",
            {**os.environ, "BENCH_PEER_DB_URL": urls["authlib"], "AUTHLIB_INSECURE_TRANSPORT": "1"},
            PEERS,
            args.workers,
            logs,
            bin=peers_bin,
        ),
        "dot": lambda: Server(
            "dot",
            "dotsite.wsgi:application",
            {
                **os.environ,
                "BENCH_DOT_DB": urls["dot"],
                "DJANGO_SETTINGS_MODULE": "dotsite.settings",
                "OAUTHLIB_INSECURE_TRANSPORT": "1",
            },
            PEERS,
            args.workers,
            logs,
            bin=peers_bin,
        ),
    }
    return {name: make() for name, make in factories.items() if name in needed}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=Path, default=Path("/tmp/tollgate-bench"))
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--deadline", type=float, default=time.time() + 900)
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--cases", default="", help="comma-separated case ids; empty = all")
    parser.add_argument("--databases", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--peers-venv", type=Path, default=None)
    parser.add_argument("--seed-only", nargs=3, metavar=("DATA", "DATABASE", "REFRESH"))
    parser.add_argument("--app", default="tollgate", help="with --seed-only: whose database")
    parser.add_argument("--filler", type=int, default=10_000, help="with --seed-only")
    parser.add_argument("--seed-expired", nargs=4, metavar=("DATA", "DATABASE", "APP", "COUNT"))
    args = parser.parse_args()
    if args.seed_only:  # run by seed_database in a fresh process per database
        data, database, refresh = args.seed_only
        creds = seed(Path(data), int(refresh), database, args.app, args.filler)
        (Path(data) / "creds.json").write_text(json.dumps(creds))
        return 0
    if args.seed_expired:  # run by run_cases before each XP run
        data, database, app, count = args.seed_expired
        print(json.dumps(seed_expired(Path(data), database, app, int(count))))
        return 0
    args.selected = [c.strip() for c in args.cases.split(",") if c.strip()] or list(CASES)
    unknown = sorted(set(args.selected) - set(CASES))
    if unknown:
        parser.error(f"unknown cases: {', '.join(unknown)} (known: {', '.join(CASES)})")
    args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    if not args.databases or set(args.databases) - {"sqlite", "postgres"}:
        parser.error("--databases: sqlite, postgres or both (comma-separated)")
    args.peers_venv = args.peers_venv or args.base / "peers-venv"
    args.seed_seconds = {}  # database -> scale app -> seconds its seeding took
    signal.signal(signal.SIGTERM, lambda *_: (stop_all(), sys.exit(143)))

    logs = args.base / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    seeded = {}
    for database in args.databases:
        data = args.base / "data" / database
        seeded[database] = (data, *seed_database(args, database, data))

    log("argon2id verify timing")
    verify_ms, verify_cpu_ms = argon2_verify_ms()
    cores = os.cpu_count() or 1
    servers = {d: make_servers(args, d, seeded[d][0], logs) for d in args.databases}
    results: dict[str, dict[str, list[dict]]] = {
        d: {case: [] for case in CASES} for d in args.databases
    }
    notes: list[str] = []
    try:
        for round_no in range(1, args.rounds + 1):
            forward = round_no % 2 == 1  # even rounds reverse the orders
            for database in args.databases if forward else args.databases[::-1]:
                data, creds, spares, pools = seeded[database]
                for name in SERVER_ORDER if forward else SERVER_ORDER[::-1]:
                    selected = [c for c in args.selected if CASES[c][0] == name]
                    if not selected:
                        continue
                    needed = len(selected) * (args.duration + max(2, args.duration // 4) + 3)
                    if "XP" in selected and round_no <= XP_ROUNDS:  # re-seeding takes as long
                        needed += int(args.seed_seconds[database].get(name, 60))
                    if time.time() + needed + 20 > args.deadline:
                        notes.append(f"round {round_no} {database} {name}: skipped (time budget)")
                        continue
                    server = servers[database][name]
                    server.port = free_port()
                    server.start()
                    try:
                        spare = {c: spares[c][round_no - 1] for c in spares}
                        if name not in ("tollgate", "dot"):  # the scale databases have none
                            spare = {}
                        failures = check(
                            server,
                            creds_for(creds, name),
                            spare.get("DR" if name == "dot" else "F"),
                            spare.get("SR"),
                        )
                        notes.extend(f"round {round_no} {database}: {f}" for f in failures)
                        log(
                            f"round {round_no} {database} {name} on :{server.port} checks: "
                            f"{failures or 'ok'}"
                        )
                        per_round = {c: len(pool) // args.rounds for c, pool in pools.items()}
                        run_cases(
                            server,
                            name,
                            creds_for(creds, name),
                            round_no,
                            args,
                            logs,
                            results[database],
                            {
                                case: pool[
                                    (round_no - 1) * per_round[case] : round_no * per_round[case]
                                ]
                                for case, pool in pools.items()
                            },
                            data,
                            database,
                        )
                    finally:
                        server.stop()
    finally:
        stop_all()
    report = render(results, verify_ms, verify_cpu_ms, cores, args, notes)
    args.results.write_text(report)
    (args.base / "results.json").write_text(
        json.dumps(
            {
                "results": results,
                "verify_ms": verify_ms,
                "verify_cpu_ms": verify_cpu_ms,
                "scale_seed_seconds": args.seed_seconds,
                "notes": notes,
            },
            indent=2,
        )
    )
    print(report)
    return 0


def run_cases(
    server: Server,
    name: str,
    creds: dict[str, str],
    round_no: int,
    args: argparse.Namespace,
    logs: Path,
    results: dict[str, list[dict]],
    refresh_slices: dict[str, list[str]],
    data: Path,
    database: str,
) -> None:
    warm = max(2, args.duration // 4)
    token_files = {}
    for case, refresh_slice in refresh_slices.items():
        token_files[case] = data / f"refresh-{case}-round{round_no}.txt"
        token_files[case].write_text("\n".join(refresh_slice) + "\n")
    form = HERE / "form.lua"
    cc_body = urlencode(CC_FORM)
    if name == "baseline":
        plan = [
            ("A", server.url("/ping"), {}, None, None),
            ("B", server.url("/me"), {"Authorization": f"Bearer {creds['baseline']}"}, None, None),
        ]
    elif name == "authlib":
        plan = [
            ("AL", server.url("/api/me"), bearer_of(AUTHLIB_BENCH_TOKEN), None, None),
            (
                "ALC",
                server.url("/oauth/token"),
                {},
                form,
                {
                    "BENCH_BODY": cc_body,
                    "BENCH_AUTH": basic(AUTHLIB_CLIENT_ID, AUTHLIB_CLIENT_SECRET),
                },
            ),
        ]
    elif name == "dot":
        plan = [
            ("DG", server.url("/api/me"), bearer_of(DOT_BENCH_TOKEN), None, None),
            *[
                (
                    case,
                    server.url("/o/token/"),
                    {},
                    form,
                    {"BENCH_BODY": cc_body, "BENCH_AUTH": basic(client_id, DOT_SECRET)},
                )
                for case, client_id in (("DC", DOT_CC_PLAIN_ID),)
            ],
            (
                "DR",
                server.url("/o/token/"),
                {},
                HERE / "refresh.lua",
                {
                    "BENCH_TOKENS": str(token_files.get("DR", "")),
                    "BENCH_THREADS": "2",
                    "BENCH_AUTH": basic(DOT_AC_PLAIN_ID, DOT_SECRET),
                },
            ),
            (
                "DI",
                server.url("/o/introspect/"),
                {},
                form,
                {
                    "BENCH_BODY": urlencode({"token": DOT_BENCH_TOKEN}),
                    "BENCH_AUTH": f"Bearer {DOT_BENCH_TOKEN}",
                },
            ),
            # Last: PBKDF2 per request leaves a queue the drain below waits out.
            (
                "DCH",
                server.url("/o/token/"),
                {},
                form,
                {"BENCH_BODY": cc_body, "BENCH_AUTH": basic(DOT_CC_HASHED_ID, DOT_SECRET)},
            ),
        ]
    elif name in SCALE_FILLER:
        usage = (server.url("/api/v1/usage"), bearer_of(creds["access_token"]), None, None)
        plan = [("X10K", *usage)] if name == "scale10k" else [("X1M", *usage), ("XP", *usage)]
    else:
        login_body = json.dumps(
            {"email": "bench@example.com", "password": PASSWORD, "device": DEVICE}
        )
        plan = [
            ("C0", server.url("/api/v1/usage"), bearer_of(creds["access_token"]), None, None),
            ("S", server.url("/api/v1/usage"), bearer_of(creds["session_jwt"]), None, None),
            ("D0", server.url("/api/v1/usage"), {"X-Api-Key": creds["api_key"]}, None, None),
            ("C", server.url("/api/v1/accounts"), bearer_of(creds["access_token"]), None, None),
            ("D", server.url("/api/v1/accounts"), {"X-Api-Key": creds["api_key"]}, None, None),
            *[
                (case, server.url("/api/v1/tasks"), bearer_of(token), None, None)
                for case, token in (
                    ("T", creds["access_token"]),
                    ("TS", creds["secret_key_jwt"]),
                    ("TA", creds["access_key_jwt"]),
                    ("TO", creds["org_admin_token"]),
                )
            ],
            (
                "G",
                server.url("/api/v1/auth/token"),
                {"X-email": "bench@example.com", "X-client-secret": creds["secret_key"]},
                HERE / "post.lua",
                {"BENCH_BODY": ""},
            ),
            (
                "CC",
                server.url("/oauth/token"),
                {},
                form,
                {"BENCH_BODY": cc_body, "BENCH_AUTH": creds["service_basic"]},
            ),
            (
                "I",
                server.url("/oauth/introspect"),
                {},
                form,
                {
                    "BENCH_BODY": urlencode({"token": creds["access_token"]}),
                    "BENCH_AUTH": creds["client_basic"],
                },
            ),
            (
                "E",
                server.url("/api/v1/auth/login"),
                {},
                HERE / "post.lua",
                {"BENCH_BODY": login_body},
            ),
            (
                "F",
                server.url("/api/v1/auth/refresh"),
                {},
                HERE / "refresh.lua",
                {"BENCH_TOKENS": str(token_files.get("F", "")), "BENCH_THREADS": "2"},
            ),
            (
                "SR",
                server.url("/auth/refresh"),
                {},
                HERE / "refresh.lua",
                {"BENCH_TOKENS": str(token_files.get("SR", "")), "BENCH_THREADS": "2"},
            ),
        ]
    for case, url, headers, script, env in plan:
        if case not in args.selected or (case == "XP" and round_no > XP_ROUNDS):
            continue
        tag = f"{database}-{case}-{round_no}"
        purge: Purge | None = None
        reseeded: dict[str, Any] = {}
        if case == "XP":  # SCALE_ROWS dead rows for the purge to delete
            reseeded = reseed_expired(scale_data(data, name), database, name)
        if case not in NO_WARM_UP:
            wrk(url, warm, logs, f"warm-{tag}", headers, script, env)
            server.drain()
        if case == "XP":  # starts right before wrk: the measurement is while it runs
            purge = Purge(server, logs / f"purge-{tag}.txt")
        result = wrk(url, args.duration, logs, tag, headers, script, env)
        result["round"] = round_no
        result["rss_mib"] = server.worker_rss_mib()
        server.drain()
        if purge is not None:
            result.update(reseeded)
            result.update(purge.finish(min(PURGE_TIMEOUT, args.deadline - time.time() - 60)))
            left = top_up_expired(scale_data(data, name), database, name, 0)["dead_before"]
            result["expired_left"] = left  # what a stopped purge left, 0 once it finished
            settle(scale_data(data, name), database, name)
            log(
                f"  {database} XP: {reseeded['expired_added']} expired rows added in "
                f"{reseeded['expired_seed_s']:.0f} s; purge "
                + (
                    f"deleted {result['purged_tokens']} token rows in {result['purge_s']:.0f} s"
                    if result["purge_finished"]
                    else f"stopped unfinished after {result['purge_s']:.0f} s, "
                    f"{left} dead rows left"
                )
            )
        results[case].append(result)
        log(
            f"  {database} {case}: {result['rps']:.0f} req/s  p50 {result['p50']} ms  "
            f"p99 {result['p99']} ms  non-2xx {result['non2xx']}  "
            f"worker RSS {result['rss_mib'] or 0:.0f} MiB"
        )


# --- the scale cases --------------------------------------------------------------------------


def top_up_expired(data: Path, database: str, app: str, count: int) -> dict[str, int]:
    """seed_expired in a fresh process, as for seeding (``count`` 0: only counts)."""
    out = subprocess.run(
        [str(BIN / "python"), __file__, "--seed-expired", str(data), database, app, str(count)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def reseed_expired(data: Path, database: str, app: str) -> dict[str, Any]:
    """Top ``app``'s database up to SCALE_ROWS dead rows and settle it; how many there were,
    how many were added and how long it took."""
    start = time.monotonic()
    added = top_up_expired(data, database, app, SCALE_ROWS)
    settle(data, database, app)
    return {
        "expired_before": added["dead_before"],
        "expired_added": added["added"],
        "expired_seed_s": time.monotonic() - start,
    }


class Purge:
    """``flask tokens purge`` against a Tollgate server's database, in the background: the
    same command, configuration and batch size as production runs (BENCH_PURGE_BATCH
    overrides the batch size)."""

    def __init__(self, server: Server, log_path: Path) -> None:
        command = [str(BIN / "flask"), "--app", "wsgi:app", "tokens", "purge"]
        if PURGE_BATCH:
            command += ["--batch-size", PURGE_BATCH]
        self.log_path = log_path
        self.started = time.monotonic()
        with open(log_path, "w") as out:
            self.proc = subprocess.Popen(
                command,
                cwd=ROOT,
                env=server.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _running.append(self.proc)

    def finish(self, timeout: float) -> dict[str, Any]:
        """Wait up to ``timeout`` seconds for the purge (stopped after that, its batches so
        far committed): how long it ran, whether it finished, how many token rows it
        deleted."""
        finished = True
        try:
            self.proc.wait(timeout=max(timeout, 1))
        except subprocess.TimeoutExpired:
            finished = False
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        seconds = time.monotonic() - self.started
        if self.proc in _running:
            _running.remove(self.proc)
        purged = None
        if finished and self.proc.returncode == 0:
            lines = self.log_path.read_text().strip().splitlines()
            with contextlib.suppress(ValueError, IndexError, KeyError):
                purged = int(json.loads(lines[-1])["purged"]["tokens"])
        return {
            "purge_s": seconds,
            "purge_finished": finished and self.proc.returncode == 0,
            "purged_tokens": purged,
        }


# --- the report ------------------------------------------------------------------------------


def _ratio(
    results: dict[str, list[dict]], case: str, base: str | None, key: str = "rps"
) -> float | None:
    """The median of per-round ratios of two cases' req/s (``key``: or their p50 / p99
    latency; same run, same database)."""
    if base is None:
        return None
    a = {r["round"]: r[key] for r in results.get(case, []) if r[key] is not None}
    b = {r["round"]: r[key] for r in results.get(base, []) if r[key] is not None}
    values = [a[r] / b[r] for r in a if b.get(r)]
    return statistics.median(values) if values else None


def _count(rows: int) -> str:
    """1000000 -> "1 M", 10000 -> "10 k"."""
    if rows >= 1_000_000 and rows % 100_000 == 0:
        return f"{rows / 1_000_000:g} M"
    return f"{rows / 1000:g} k" if rows % 100 == 0 else str(rows)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def scale_target_rows(
    results: dict[str, dict[str, list[dict]]], args: argparse.Namespace
) -> list[str]:
    """Issue 12 §2's scale target as two rows: X1M's p50 against X10K's (within ±10 %) and
    XP's p99 (during the purge) against X1M's (at most twice)."""
    rows, many = [], _count(SCALE_ROWS)
    for hot_path, target, case, base, key, low, high in (
        (f"scale: validation p50, 10 k → {many} live tokens (X1M vs X10K)",
         "p50 within ±10 % (0.90–1.10 ×)", "X1M", "X10K", "p50", 0.9, 1.1),
        (f"scale: validation p99 while `tokens purge` deletes {many} expired rows (XP vs X1M)",
         "p99 ≤ 2 ×", "XP", "X1M", "p99", 0.0, 2.0),
    ):  # fmt: skip
        cells = []
        for database in args.databases:
            value = _ratio(results[database], case, base, key)
            if value is None:
                cells.append("not measured")
                continue
            cell = f"{value:.2f} {'met' if low <= value <= high else '**not met**'}"
            if case == "XP":  # a p99 not taken while the purge ran is said so
                runs = results[database]["XP"]
                if any(not r["purge_finished"] for r in runs):
                    cell += " (a purge was stopped unfinished)"
                if any(r["purge_finished"] and r["purge_s"] < args.duration for r in runs):
                    cell += " (a purge ended before wrk did)"
            cells.append(cell)
        rows.append(f"| {hot_path} | {target} | " + " | ".join(cells) + " |")
    return rows


def scale_reading(
    results: dict[str, list[dict]], database: str, seed_seconds: dict[str, float]
) -> list[str]:
    """The scale cases' ratios, the seeding time of the big database and each purge."""
    if not any(results[c] for c in ("X10K", "X1M", "XP")):
        return []
    many = _count(SCALE_ROWS)
    ratios = [
        f"{label} = {_fmt(_ratio(results, case, base, key))}"
        for label, case, base, key in (
            ("X1M / X10K p50", "X1M", "X10K", "p50"),
            ("p99", "X1M", "X10K", "p99"),
            ("req/s", "X1M", "X10K", "rps"),
            ("XP / X1M p99", "XP", "X1M", "p99"),
            ("p50", "XP", "X1M", "p50"),
            ("req/s", "XP", "X1M", "rps"),
        )
    ]
    lines = [
        f"- Scale: X10K, X1M and XP send C0's request to Tollgate on databases of their own "
        f"holding 10 k and {many} live filler tokens; XP while `flask tokens purge` deletes "
        f"{many} expired rows, started right before wrk. {'; '.join(ratios[:3])}; "
        f"{'; '.join(ratios[3:])}."
    ]
    if "scale1m" in seed_seconds:
        seconds = seed_seconds["scale1m"]
        lines.append(
            f"- Seeding the {many}-token database (migrations, fixtures, the rows in "
            f"{SEED_BATCH}-row executemany batches, then "
            + ("VACUUM ANALYZE" if database == "postgres" else "a WAL checkpoint")
            + f") took {seconds:.0f} s ({SCALE_ROWS / seconds:,.0f} rows/s)."
        )
    for run in results["XP"]:
        deleted = run["expired_before"] + run["expired_added"] - run["expired_left"]
        rate = deleted / run["purge_s"]
        purge = (
            f"deleted {run['purged_tokens']} token rows in {run['purge_s']:.0f} s "
            f"({rate:,.0f} rows/s)"
            if run["purge_finished"]
            else f"was stopped unfinished after {run['purge_s']:.0f} s, having deleted "
            f"{deleted} rows ({rate:,.0f} rows/s; {run['expired_left']} left"
            + (f", about {run['expired_left'] / rate:,.0f} s more at that rate)" if rate else ")")
        )
        lines.append(
            f"- XP round {run['round']}: {run['expired_added']} expired rows added in "
            f"{run['expired_seed_s']:.0f} s ({run['expired_before']} were there); the purge "
            f"{purge} (batch size {PURGE_BATCH or 'TOKEN_PURGE_BATCH_SIZE'})."
        )
    return lines


# (hot path, target text, case, yardstick case or "login", minimum ratio)
TARGETS: list[tuple[str, str, str, str, float]] = [
    ("protected GET, gate alone, Bearer (C0)", "≥ 1.1 × stock Authlib (AL)", "C0", "AL", 1.1),
    ("protected GET, gate alone, Bearer (C0)", "≥ 0.95 × minimal baseline (B)", "C0", "B", 0.95),
    ("protected GET, gate alone, X-Api-Key (D0)", "≥ 1.1 × stock Authlib (AL)", "D0", "AL", 1.1),
    ("protected GET, gate alone, X-Api-Key (D0)", "≥ 0.95 × minimal baseline (B)", "D0", "B", 0.95),
    ("resource list, Bearer (C)", "≥ 1.5 × DOT's protected view (DG)", "C", "DG", 1.5),
    ("resource list, X-Api-Key (D)", "≥ 1.5 × DOT's protected view (DG)", "D", "DG", 1.5),
    ("client_credentials, digested secrets (CC)", "≥ 1.2 × stock Authlib, plaintext (ALC)",
     "CC", "ALC", 1.2),
    ("refresh rotation (F)", "≥ 3 × DOT's rotation (DR)", "F", "DR", 3.0),
    ("introspection (I)", "≥ 3 × DOT's introspection (DI)", "I", "DI", 3.0),
    ("password login (E)", "≥ 0.9 × cores ÷ argon2id CPU time", "E", "login", 0.9),
]  # fmt: skip


def render(
    results: dict[str, dict[str, list[dict]]],
    verify_ms: float,
    verify_cpu_ms: float,
    cores: int,
    args: argparse.Namespace,
    notes: list[str],
) -> str:
    cpu_bound = cores / (verify_cpu_ms / 1000)
    lines = [
        "# Tollgate benchmark, peers in the same run (measured here)",
        "",
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; nproc={cores}; "
        f"Python {sys.version.split()[0]}",
        f"- Load: wrk -t2 -c16 -d{args.duration}s --latency on 127.0.0.1 (same 2 cores as "
        f"the servers); gunicorn sync workers = {args.workers} for every app; "
        f"{args.rounds} interleaved round(s) (even rounds reverse the database and server "
        "order).",
        f"- Databases: {', '.join(args.databases)}. SQLite: one WAL file per app, "
        "synchronous=NORMAL for every app. PostgreSQL: "
        "one database per app on 127.0.0.1:5432 (psycopg 3; the baseline and Authlib with "
        "SQLAlchemy's pool defaults, Tollgate with its own, Django with "
        f"persistent connections); Tollgate's rate-limit counters in Redis db "
        f"{REDIS_URL.rsplit('/', 1)[-1]}. Scale cases: Tollgate on databases of its own "
        f"holding 10 k and {_count(SCALE_ROWS)} live filler tokens.",
        "- Command: `bash bench/run.sh` (knobs: BENCH_DATABASES, BENCH_CASES, BENCH_DURATION, "
        "BENCH_ROUNDS, BENCH_WORKERS, BENCH_SCALE_ROWS). Ratios are medians of per-round ratios, "
        "same database.",
        "",
        "## Targets (issue 12 §2; ratios within this run)",
        "",
        "| hot path | target | " + " | ".join(args.databases) + " |",
        "|---|---|" + "---|" * len(args.databases),
    ]
    for hot_path, target, case, base, minimum in TARGETS:
        cells = []
        for database in args.databases:
            if base == "login":
                login = [r["rps"] for r in results[database]["E"]]
                value = statistics.median(login) / cpu_bound if login else None
            else:
                value = _ratio(results[database], case, base)
            if value is None:
                cells.append("not measured")
            else:
                cells.append(f"{value:.2f} {'met' if value >= minimum else '**not met**'}")
        lines.append(f"| {hot_path} | {target} | " + " | ".join(cells) + " |")
    lines += scale_target_rows(results, args)
    for database in args.databases:
        lines += ["", *render_database(results[database], database, verify_ms, verify_cpu_ms,
                                       cores)]  # fmt: skip
        lines += scale_reading(results[database], database, args.seed_seconds.get(database, {}))
        for case, rows in results[database].items():
            for row in rows:  # a run that did not measure what it says is said so
                if row["rps"] == 0 or row["non2xx"] or row["socket_errors"]:
                    notes.append(
                        f"round {row['round']} {database} {case}: {row['rps']:.0f} req/s, "
                        f"{row['non2xx']} non-2xx, socket errors: {row['socket_errors'] or '0'}"
                    )
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def render_database(
    results: dict[str, list[dict]],
    database: str,
    verify_ms: float,
    verify_cpu_ms: float,
    cores: int,
) -> list[str]:
    lines = [
        f"## {database}",
        "",
        "| case | server | what | req/s per round | req/s median | p50 ms | p99 ms | vs A "
        "| vs B | vs Authlib | vs DOT | worker RSS MiB | non-2xx |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case, (server, what) in CASES.items():
        rows = results[case]
        if not rows:
            lines.append(f"| {case} | {server} | {what} |" + " – |" * 10)
            continue
        rps = [r["rps"] for r in rows]
        p50 = statistics.median([r["p50"] for r in rows if r["p50"] is not None] or [0])
        p99 = statistics.median([r["p99"] for r in rows if r["p99"] is not None] or [0])
        rss = [r["rss_mib"] for r in rows if r.get("rss_mib")]
        authlib, dot = PEER_OF.get(case, (None, None))
        ratios = [
            _ratio(results, case, "A"),
            _ratio(results, case, "B"),
            _ratio(results, case, authlib),
            _ratio(results, case, dot),
        ]
        lines.append(
            f"| {case} | {server} | {what} | {' / '.join(f'{v:.0f}' for v in rps)} | "
            f"{statistics.median(rps):.0f} | {p50:.1f} | {p99:.1f} | "
            + " | ".join(_fmt(v, 3) for v in ratios)
            + f" | {_fmt(statistics.median(rss) if rss else None, 0)} "
            f"| {sum(r['non2xx'] for r in rows)} |"
        )
    ideal = cores / (verify_ms / 1000)
    cpu_bound = cores / (verify_cpu_ms / 1000)
    login = [r["rps"] for r in results["E"]]
    login_median = statistics.median(login) if login else 0.0
    lines += [
        "",
        f"Reading it ({database}):",
        "",
        '- "vs Authlib" / "vs DOT": against the peer\'s case of the same kind in the same '
        "round (GETs against AL / DG, client_credentials and G against ALC / DC, refreshes "
        "against DR, introspection against DI).",
        "- Gate overhead: C0 / B and D0 / B isolate the gate (resolution, limiter, usage, "
        "correlation id, headers) on an endpoint with no query of its own; C and D also run "
        "the resource's query (a page of accounts with its total).",
        f"- Login: one argon2id verify (argon2-cffi defaults: t=3, m=64 MiB, p=4) takes "
        f"{verify_ms:.1f} ms wall-clock and {verify_cpu_ms:.1f} ms of CPU here; cores / CPU "
        f"time = {cpu_bound:.1f} verifies/s (cores / wall-clock = {ideal:.1f}). Login reached "
        f"{login_median:.1f} req/s = {login_median / cpu_bound:.2f} × the first.",
        "- JWT credentials: TS / T = "
        + ", TA / T = ".join(_fmt(_ratio(results, c, "T")) for c in ("TS", "TA"))
        + ", TO / T = "
        + _fmt(_ratio(results, "TO", "T"))
        + " (goal ≥ 0.9 each). Session tokens: S / C0 = "
        + _fmt(_ratio(results, "S", "C0"))
        + " (goal ≥ 0.9), SR / F = "
        + _fmt(_ratio(results, "SR", "F"))
        + ".",
        "- DOT's hashed client secret (DCH) pays Django's PBKDF2 per request: CC / DCH = "
        + _fmt(_ratio(results, "CC", "DCH"))
        + ".",
    ]
    return lines


if __name__ == "__main__":
    sys.exit(main())
