"""SESSION_JWT_KEY is a secret like the others: generated into instance/ outside production,
required in production, and at least 32 characters (HMAC-SHA256's output)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from flask import Flask

from app.config import _SECRET_KEYS, ConfigurationError, DefaultConfig, load_config


@pytest.fixture
def blank(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Flask:
    """An app shell with no configuration from the environment and an empty instance/."""
    for key in [k for k in vars(DefaultConfig) if k.isupper()] + ["DATABASE_URL"]:
        monkeypatch.delenv(key, raising=False)
    return Flask("config-test", instance_path=str(tmp_path / "instance"))


def production_secrets(**changes: str) -> dict[str, str]:
    """Every secret set (long enough), then ``changes``; "" removes one."""
    values = {key: "s" * 80 for key in _SECRET_KEYS}
    values["ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    values.update(changes)
    return {key: value for key, value in values.items() if value}


def test_generated_outside_production_and_kept(blank: Flask) -> None:
    load_config(blank, {"APP_ENV": "development"})

    stored = json.loads(Path(blank.instance_path, "secrets.json").read_text())
    assert len(stored["SESSION_JWT_KEY"]) >= 32
    assert blank.config["SESSION_JWT_KEY"] == stored["SESSION_JWT_KEY"]
    again = Flask("config-test-2", instance_path=blank.instance_path)
    load_config(again, {"APP_ENV": "development"})
    assert again.config["SESSION_JWT_KEY"] == stored["SESSION_JWT_KEY"]


def test_production_refuses_to_start_without_it(blank: Flask) -> None:
    overrides = {
        "APP_ENV": "production",
        "SQLALCHEMY_DATABASE_URI": "postgresql://db.invalid/tollgate",
        **production_secrets(SESSION_JWT_KEY=""),
    }
    with pytest.raises(ConfigurationError, match="SESSION_JWT_KEY must be set"):
        load_config(blank, overrides)


def test_a_key_shorter_than_32_characters_refuses(blank: Flask) -> None:
    overrides = {
        "APP_ENV": "production",
        "SQLALCHEMY_DATABASE_URI": "postgresql://db.invalid/tollgate",
        **production_secrets(SESSION_JWT_KEY="k" * 31),
    }
    with pytest.raises(ConfigurationError, match="SESSION_JWT_KEY must be at least 32"):
        load_config(blank, overrides)


def test_defaults() -> None:
    assert DefaultConfig.SESSION_ACCESS_TOKEN_LIFETIME == 900
    assert DefaultConfig.SESSION_REFRESH_TOKEN_LIFETIME == 14 * 24 * 3600
    assert DefaultConfig.SESSION_REFRESH_REUSE_INTERVAL == 0
