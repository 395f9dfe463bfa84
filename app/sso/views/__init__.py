"""The SSO blueprints; the factory registers every one of ``blueprints``."""

from __future__ import annotations

from flask import Blueprint

from app.sso.views.admin import bp as admin_bp
from app.sso.views.web import bp as web_bp

try:  # the mobile/desktop flows (sso-sure) may not be merged yet
    from app.sso.views.mobile import bp as mobile_bp
except ModuleNotFoundError as exc:  # pragma: no cover - only until app/sso/views/mobile.py lands
    if exc.name != "app.sso.views.mobile":
        raise
    blueprints: tuple[Blueprint, ...] = (web_bp, admin_bp)
else:
    blueprints = (web_bp, admin_bp, mobile_bp)
