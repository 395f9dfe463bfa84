"""The SSO blueprints; the factory registers every one of ``blueprints``."""

from __future__ import annotations

from flask import Blueprint

# steps adds /mfa/verify and /auth/link to web's "sso" blueprint (one blueprint, so the
# endpoint names stay "sso.mfa_verify", "sso.link" and "sso.link_submit").
from app.sso.views import steps  # noqa: F401
from app.sso.views.admin import bp as admin_bp
from app.sso.views.mobile import bp as mobile_bp
from app.sso.views.web import bp as web_bp

blueprints: tuple[Blueprint, ...] = (web_bp, admin_bp, mobile_bp)
