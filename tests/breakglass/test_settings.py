"""Break-glass configuration: what start-up refuses (with a message that says what to fix),
what is read from the environment, and when the key is active (003.21, 003.23, 003.25,
003.42, T7)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from app import create_app
from app.breakglass.settings import BreakGlassSettings, parse_expiry
from app.config import ConfigurationError, DefaultConfig
from app.identity.roles import CREDENTIAL_MINTING, PLATFORM
from tests.breakglass.helpers import ENABLED, MASTER_KEY, expiry
from tests.support.config import base_config

NOW = datetime(2026, 3, 1, 12, 0, 0)


def _start(database_url: str, instance_dir: Path, **overrides: Any) -> None:
    create_app({**base_config(database_url, instance_dir), **overrides})


def test_defaults_keep_break_glass_off_with_the_documented_set() -> None:
    assert DefaultConfig.BREAK_GLASS_ENABLED is False
    assert DefaultConfig.MASTER_KEY == ""
    assert DefaultConfig.BREAK_GLASS_EXPIRES_AT == ""
    assert set(DefaultConfig.BREAK_GLASS_PERMISSIONS.split(",")) == {
        "audit.view",
        "admin.users",
        "scans.view",
        "dashboard.view",
    }
    assert DefaultConfig.BREAK_GLASS_TENANTS == ""
    assert DefaultConfig.BREAK_GLASS_RATE_LIMIT == "30 per 1 hour"
    assert DefaultConfig.BREAK_GLASS_RATE_LIMIT_IP == "10 per 1 hour"


def test_every_key_is_documented_with_a_comment() -> None:
    source = Path(__file__).resolve().parents[2].joinpath("app", "config.py").read_text()
    for key in (
        "BREAK_GLASS_ENABLED",
        "MASTER_KEY",
        "BREAK_GLASS_EXPIRES_AT",
        "BREAK_GLASS_PERMISSIONS",
        "BREAK_GLASS_TENANTS",
        "BREAK_GLASS_RATE_LIMIT",
        "BREAK_GLASS_RATE_LIMIT_IP",
    ):
        [line_no] = [
            i for i, line in enumerate(source.splitlines()) if line.strip().startswith(f"{key} =")
        ]
        line = source.splitlines()[line_no]
        above = source.splitlines()[line_no - 1].strip()
        assert "#" in line or above.startswith("#"), key


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"BREAK_GLASS_PERMISSIONS": "*"}, "wildcard"),
        ({"BREAK_GLASS_PERMISSIONS": "tags.view,scans.*"}, "wildcard"),
        ({"BREAK_GLASS_PERMISSIONS": "tags.view,everything.ever"}, "everything.ever"),
        ({"BREAK_GLASS_PERMISSIONS": " , "}, "at least one permission"),
        *(
            ({"BREAK_GLASS_PERMISSIONS": f"tags.view,{permission}"}, permission)
            for permission in sorted(PLATFORM | CREDENTIAL_MINTING)
        ),
        ({"MASTER_KEY": "k" * 31}, "MASTER_KEY must be at least 32"),
        ({"MASTER_KEY": ""}, "MASTER_KEY must be at least 32"),
        ({"MASTER_KEY": "tgk_" + "k" * 40}, "API_KEY_PREFIX"),
        ({"BREAK_GLASS_EXPIRES_AT": "next friday"}, "BREAK_GLASS_EXPIRES_AT"),
        ({"BREAK_GLASS_TENANTS": "acme"}, "BREAK_GLASS_TENANTS"),
        ({"BREAK_GLASS_RATE_LIMIT": "lots"}, "BREAK_GLASS_RATE_LIMIT"),
        ({"BREAK_GLASS_RATE_LIMIT_IP": "10 per fortnight"}, "BREAK_GLASS_RATE_LIMIT_IP"),
    ],
)
def test_start_up_refuses_a_dangerous_or_broken_configuration(
    database_url: str, instance_dir: Path, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        _start(database_url, instance_dir, **{**ENABLED, **overrides})
    assert message in str(refused.value)
    assert MASTER_KEY not in str(refused.value)


def test_a_platform_permission_is_refused_by_name(database_url: str, instance_dir: Path) -> None:
    with pytest.raises(ConfigurationError) as refused:
        _start(
            database_url, instance_dir, **{**ENABLED, "BREAK_GLASS_PERMISSIONS": "platform.manage"}
        )
    assert str(refused.value) == (
        "BREAK_GLASS_PERMISSIONS must not contain platform permissions: remove platform.manage"
    )


def test_disabled_the_key_is_not_checked_but_the_set_still_is(
    database_url: str, instance_dir: Path
) -> None:
    _start(database_url, instance_dir, BREAK_GLASS_ENABLED=False, MASTER_KEY="short")
    with pytest.raises(ConfigurationError, match="wildcard"):
        _start(database_url, instance_dir, BREAK_GLASS_PERMISSIONS="*")


def test_a_past_expiry_starts_but_is_off(database_url: str, instance_dir: Path) -> None:
    """An expired window is not a configuration error: break-glass is simply off."""
    _start(database_url, instance_dir, **{**ENABLED, "BREAK_GLASS_EXPIRES_AT": expiry(days=-1)})


def test_the_configuration_comes_from_the_environment(
    database_url: str, instance_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BREAK_GLASS_ENABLED", "true")
    monkeypatch.setenv("MASTER_KEY", MASTER_KEY)
    monkeypatch.setenv("BREAK_GLASS_EXPIRES_AT", "2099-01-01T00:00:00Z")
    monkeypatch.setenv("BREAK_GLASS_PERMISSIONS", "tags.view, audit.view")
    monkeypatch.setenv("BREAK_GLASS_TENANTS", "6f1c9a3e-0d0c-4d4e-9a36-1f4c2b1d5e7a")
    app = create_app(base_config(database_url, instance_dir))
    from app.breakglass.services import EXTENSION_KEY

    settings: BreakGlassSettings = app.extensions[EXTENSION_KEY]
    assert settings.enabled is True
    assert settings.expires_at == datetime(2099, 1, 1)
    assert settings.permissions == frozenset({"tags.view", "audit.view"})
    assert [str(t) for t in settings.tenants or ()] == ["6f1c9a3e-0d0c-4d4e-9a36-1f4c2b1d5e7a"]
    assert MASTER_KEY not in repr(settings)
    monkeypatch.setenv("BREAK_GLASS_PERMISSIONS", "*")
    with pytest.raises(ConfigurationError, match="wildcard"):
        create_app(base_config(database_url, instance_dir))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T12:00:00Z", datetime(2026, 3, 1, 12)),
        ("2026-03-01T14:00:00+02:00", datetime(2026, 3, 1, 12)),
        ("2026-03-01T12:00:00", datetime(2026, 3, 1, 12)),  # no offset: read as UTC
        ("", None),
    ],
)
def test_the_expiry_is_read_as_utc(text: str, expected: datetime | None) -> None:
    assert parse_expiry(text) == expected


def _settings(**changes: Any) -> BreakGlassSettings:
    values: dict[str, Any] = {
        "enabled": True,
        "master_key": MASTER_KEY,
        "expires_at": datetime(2026, 3, 1, 13, 0, 0),
        "permissions": frozenset({"tags.view"}),
        "tenants": None,
    }
    return BreakGlassSettings(**{**values, **changes})


def test_active_only_while_enabled_with_a_long_key_before_the_expiry() -> None:
    assert _settings().active(NOW)
    assert not _settings().active(datetime(2026, 3, 1, 13, 0, 0))  # the expiry itself: off
    assert not _settings().active(datetime(2026, 3, 2))
    assert not _settings(expires_at=None).active(NOW)  # no expiry: off (003.42)
    assert not _settings(enabled=False).active(NOW)
    assert not _settings(master_key="").active(NOW)  # T7: never an empty key
    assert not _settings(master_key="k" * 31).active(NOW)
