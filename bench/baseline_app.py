"""The minimal baseline the benchmark compares Tollgate with, measured in the same run:
Flask + Flask-SQLAlchemy on SQLite (WAL), and nothing else.

(a) GET /ping -> small JSON: the ceiling of Flask + gunicorn.
(b) GET /me   -> the bearer token looked up by the SHA-256 of the presented value in a unique
               indexed column, expiry and revocation checked, small JSON.

Database: BENCH_BASELINE_URL (a SQLAlchemy URL, e.g. postgresql+psycopg://...), else the
SQLite file BENCH_BASELINE_DB.
Serve: BENCH_BASELINE_DB=/path.sqlite3 gunicorn -w N -b 127.0.0.1:PORT baseline_app:app
Seed:  python baseline_app.py seed /path.sqlite3 TOKEN   (the path is ignored with a URL)
"""

import hashlib
import os
import secrets
import sys
import time

from flask import Flask, jsonify, request
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()


class AccessToken(db.Model):
    __tablename__ = "access_token"
    id = db.Column(db.Integer, primary_key=True)
    token_hash = db.Column(db.String(64), unique=True, index=True, nullable=False)
    user_id = db.Column(db.Integer, nullable=False)
    scope = db.Column(db.Text, nullable=False, default="")
    expires_at = db.Column(db.Integer, nullable=False)
    revoked = db.Column(db.Boolean, nullable=False, default=False)


app = Flask(__name__)
URL = os.environ.get("BENCH_BASELINE_URL") or "sqlite:///" + os.environ.get(
    "BENCH_BASELINE_DB", "/tmp/tollgate-bench/data/baseline.sqlite3"
)
app.config["SQLALCHEMY_DATABASE_URI"] = URL
# SQLAlchemy's own pool defaults (no ping on checkout: the cheapest setting, no handicap).
app.config["SQLALCHEMY_ENGINE_OPTIONS"] = (
    {"connect_args": {"timeout": 30}} if URL.startswith("sqlite") else {}
)
db.init_app(app)


@app.get("/ping")
def ping():
    return jsonify(ok=True)


@app.get("/me")
def me():
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw:
        return jsonify(error="invalid_token"), 401
    digest = hashlib.sha256(raw.encode()).hexdigest()
    token = db.session.execute(
        db.select(AccessToken).where(AccessToken.token_hash == digest)
    ).scalar_one_or_none()
    if token is None or token.revoked or token.expires_at <= time.time():
        return jsonify(error="invalid_token"), 401
    return jsonify(sub=str(token.user_id), scope=token.scope)


def seed(path: str, token: str, filler: int = 10_000) -> None:
    sqlite = URL.startswith("sqlite")
    if sqlite and os.path.exists(path):
        os.remove(path)
    with app.app_context():  # BENCH_BASELINE_DB names the same file
        if sqlite:
            db.session.execute(db.text("PRAGMA journal_mode=WAL"))
        db.drop_all()
        db.create_all()
        far = int(time.time()) + 10 * 365 * 86400
        rows = [
            {
                "token_hash": hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
                "user_id": i % 1000,
                "scope": "read",
                "expires_at": far,
            }
            for i in range(filler)
        ]
        rows.append(
            {
                "token_hash": hashlib.sha256(token.encode()).hexdigest(),
                "user_id": 42,
                "scope": "read_write",
                "expires_at": far,
            }
        )
        db.session.execute(db.insert(AccessToken), rows)
        db.session.commit()
        db.engine.dispose()


if __name__ == "__main__" and sys.argv[1:2] == ["seed"]:
    seed(sys.argv[2], sys.argv[3])
