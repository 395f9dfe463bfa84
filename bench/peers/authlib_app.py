"""Peer: a minimal stock-Authlib Flask authorization server, as the library documents it.

POST /oauth/token  client_credentials (client_secret_basic; the client mixin compares the
                   plaintext secret), tokens saved with authlib.integrations.sqla_oauth2.
GET  /api/me       ResourceProtector + the stock SQLAlchemy BearerTokenValidator (looks the
                   token up by its plaintext value, unique index).
GET  /ping         readiness probe.

Database: $BENCH_PEER_DB_URL (a SQLAlchemy URL: sqlite:///... or postgresql+psycopg://...).
Serve: AUTHLIB_INSECURE_TRANSPORT=1 gunicorn -w N -b 127.0.0.1:PORT authlib_app:app
Seed:  python authlib_app.py seed
"""

import os
import secrets
import sys
import time

from authlib.integrations.flask_oauth2 import (
    AuthorizationServer,
    ResourceProtector,
    current_token,
)
from authlib.integrations.sqla_oauth2 import (
    OAuth2ClientMixin,
    OAuth2TokenMixin,
    create_bearer_token_validator,
    create_query_client_func,
    create_save_token_func,
)
from authlib.oauth2.rfc6749 import grants
from consts import AUTHLIB_BENCH_TOKEN, AUTHLIB_CLIENT_ID, AUTHLIB_CLIENT_SECRET
from flask import Flask, jsonify
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine

db = SQLAlchemy()


class Client(db.Model, OAuth2ClientMixin):
    __tablename__ = "oauth2_client"
    id = db.Column(db.Integer, primary_key=True)


class Token(db.Model, OAuth2TokenMixin):
    __tablename__ = "oauth2_token"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, nullable=True)

    def is_refresh_token_active(self):
        return not self.refresh_token_revoked_at and not self.is_expired()


URL = os.environ.get("BENCH_PEER_DB_URL", "sqlite:////tmp/tollgate-bench/data/authlib.db")
app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = URL
# SQLAlchemy's own pool defaults (no ping on checkout: the cheapest setting, no handicap);
# on SQLite the same WAL + synchronous=NORMAL durability as Tollgate's embedded default.
app.config["SQLALCHEMY_ENGINE_OPTIONS"] = (
    {"connect_args": {"timeout": 30}} if URL.startswith("sqlite") else {}
)


@event.listens_for(Engine, "connect")
def _sqlite_synchronous(dbapi_connection, connection_record):
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")


app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"client_credentials": 3600}
db.init_app(app)

authorization = AuthorizationServer(
    app,
    query_client=create_query_client_func(db.session, Client),
    save_token=create_save_token_func(db.session, Token),
)
authorization.register_grant(grants.ClientCredentialsGrant)

require_oauth = ResourceProtector()
require_oauth.register_token_validator(create_bearer_token_validator(db.session, Token)())


@app.get("/ping")
def ping():
    return jsonify(ok=True)


@app.post("/oauth/token")
def issue_token():
    return authorization.create_token_response()


@app.get("/api/me")
@require_oauth()
def api_me():
    token = current_token
    return jsonify(sub=str(token.user_id), client_id=token.client_id, scope=token.scope)


def seed(filler: int = 10_000) -> None:
    with app.app_context():
        if URL.startswith("sqlite"):
            db.session.execute(db.text("PRAGMA journal_mode=WAL"))
        db.drop_all()
        db.create_all()
        client = Client(
            client_id=AUTHLIB_CLIENT_ID,
            client_secret=AUTHLIB_CLIENT_SECRET,
            client_id_issued_at=int(time.time()),
        )
        client.set_client_metadata(
            {
                "client_name": "bench",
                "grant_types": ["client_credentials"],
                "response_types": [],
                "token_endpoint_auth_method": "client_secret_basic",
                "scope": "read write",
            }
        )
        db.session.add(client)
        now, ten_years = int(time.time()), 10 * 365 * 86400
        rows = [
            {
                "client_id": "filler",
                "token_type": "Bearer",
                "access_token": secrets.token_urlsafe(32),
                "scope": "read",
                "issued_at": now,
                "expires_in": ten_years,
                "user_id": i % 1000 + 1,
            }
            for i in range(filler)
        ]
        rows.append(
            {
                "client_id": AUTHLIB_CLIENT_ID,
                "token_type": "Bearer",
                "access_token": AUTHLIB_BENCH_TOKEN,
                "scope": "read write",
                "issued_at": now,
                "expires_in": ten_years,
                "user_id": 42,
            }
        )
        db.session.execute(db.insert(Token), rows)
        db.session.commit()
        db.engine.dispose()
    print(f"authlib peer seeded: 1 client, {filler + 1} tokens")


if __name__ == "__main__" and sys.argv[1:] == ["seed"]:
    seed()
