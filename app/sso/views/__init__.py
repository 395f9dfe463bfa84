"""The SSO blueprints; the factory registers every one of ``blueprints``."""

from __future__ import annotations

from flask import Blueprint

from app.sso.views.admin import bp as admin_bp
from app.sso.views.mobile import bp as mobile_bp
from app.sso.views.web import bp as web_bp

blueprints: tuple[Blueprint, ...] = (web_bp, admin_bp, mobile_bp)
