"""PARTNER_SSO_KEY, the server key every ssoSecret is derived from (reference C4): generated into
instance/ outside production like the other secrets, required in production, at least 32
characters; and changing it changes every organisation's ssoSecret."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from app import create_app
from app.config import _SECRET_KEYS, ConfigurationError, DefaultConfig


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for key in [*vars(DefaultConfig), "DATABASE_URL"]:
        monkeypatch.delenv(key, raising=False)
    instance = tmp_path / "instance"
    instance.mkdir()
    monkeypatch.setenv("INSTANCE_PATH", str(instance))
    return instance


def _production(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **keys: str) -> None:
    """Production settings with every secret set except those given (``""`` = unset)."""
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'p.sqlite3'}")
    for key in _SECRET_KEYS:
        value = Fernet.generate_key().decode() if key == "ENCRYPTION_KEYS" else "s" * 64
        value = keys.get(key, value)
        if value:
            monkeypatch.setenv(key, value)


def test_production_refuses_to_start_without_it(clean_env, monkeypatch, tmp_path) -> None:
    _production(monkeypatch, tmp_path, PARTNER_SSO_KEY="")
    with pytest.raises(ConfigurationError, match="PARTNER_SSO_KEY must be set"):
        create_app()
    assert not (clean_env / "secrets.json").exists()


def test_production_refuses_a_key_shorter_than_32(clean_env, monkeypatch, tmp_path) -> None:
    _production(monkeypatch, tmp_path, PARTNER_SSO_KEY="k" * 31)
    with pytest.raises(ConfigurationError, match="PARTNER_SSO_KEY must be at least 32"):
        create_app()


def test_production_starts_with_it(clean_env, monkeypatch, tmp_path) -> None:
    _production(monkeypatch, tmp_path, PARTNER_SSO_KEY="k" * 32)
    assert create_app().config["PARTNER_SSO_KEY"] == "k" * 32


def test_it_is_generated_into_instance_outside_production(clean_env) -> None:
    first = create_app({"APP_ENV": "development", "AUTO_MIGRATE": False})
    stored = json.loads((clean_env / "secrets.json").read_text())
    assert len(stored["PARTNER_SSO_KEY"]) >= 32
    assert first.config["PARTNER_SSO_KEY"] == stored["PARTNER_SSO_KEY"]
    second = create_app({"APP_ENV": "development", "AUTO_MIGRATE": False})
    assert second.config["PARTNER_SSO_KEY"] == stored["PARTNER_SSO_KEY"]


def test_the_secret_depends_on_the_key_the_organization_and_the_version(clean_env) -> None:
    from app.partners import ssosecret

    organization = uuid.uuid4()
    one = create_app({"APP_ENV": "development", "AUTO_MIGRATE": False, "PARTNER_SSO_KEY": "a" * 32})
    two = create_app({"APP_ENV": "development", "AUTO_MIGRATE": False, "PARTNER_SSO_KEY": "b" * 32})
    with one.app_context():
        first = ssosecret.derive(organization, 1)
        assert ssosecret.derive(organization, 1) == first  # derived, so stable
        assert ssosecret.derive(organization, 2) != first
        assert ssosecret.derive(uuid.uuid4(), 1) != first
        assert ssosecret.signing_key(organization, 1) == first.encode("utf-8")
    with two.app_context():
        assert ssosecret.derive(organization, 1) != first
