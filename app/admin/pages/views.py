"""Tenant administration pages: Users (base role, status, the API keys an admin makes for
each user), Roles (the read-only catalogue) and Settings (the tenant's name; its plan features
shown, not edited).

Browser only: a signed-out visitor is sent to sign in and back; then the gate decides as for
the JSON API (the session credential only, the page's permission, TOTP in production for
admin.* — 403 MFA_REQUIRED, the live flag). Forms carry the CSRF token. The pages call the
same services as the API, so the rules (no escalation, the last admin, deactivation ending
every credential) are the same ones.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import (
    Blueprint,
    flash,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from werkzeug.wrappers import Response as Redirect

from app.admin import services
from app.apikeys.models import SCOPES, SOURCES
from app.clock import utcnow
from app.errors import Conflict, Forbidden, ValidationFailed
from app.gate import current_principal, current_principal_user, require
from app.identity.models import User
from app.requestctx import current_caller

pages_bp = Blueprint("admin_pages", __name__, url_prefix="/admin")

P = ParamSpec("P")
R = TypeVar("R")
Page = str | tuple[str, int]
# What a refused change is shown as: the page again, with the reason and this status.
REFUSALS = (ValidationFailed, Forbidden, Conflict)
SECTIONS = (
    ("Users", "admin.users", "admin_pages.users_page"),
    ("Roles", "admin.roles", "admin_pages.roles_page"),
    ("Settings", "admin.settings", "admin_pages.settings_page"),
)


def admin_page(
    permission: str, *, change: bool = False
) -> Callable[[Callable[P, R]], Callable[P, R | Redirect]]:
    """A page needing ``permission``: signed-out visitors go to sign in and come back; then
    the gate with the browser session as the only credential (a change also needs the
    account holder in person, which a session is)."""

    def decorator(view: Callable[P, R]) -> Callable[P, R | Redirect]:
        gated = require(
            scope="write" if change else "read",
            permission=permission,
            credentials=("session",),
            user_required=True,
            first_party_only=change,
        )(view)

        @wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R | Redirect:
            if not current_user.is_authenticated:
                return redirect(url_for("web.login", next=request.path))
            result: R = gated(*args, **kwargs)
            return result

        return guarded

    return decorator


def _sections(user: User) -> list[tuple[str, str]]:
    """The administration pages this user may open, as (label, url)."""
    held = services.user_permissions(user)
    return [
        (label, url_for(endpoint)) for label, permission, endpoint in SECTIONS if permission in held
    ]


@pages_bp.app_context_processor
def _home_links() -> dict[str, Callable[[], str | None]]:
    """``tenant_admin_url()`` for templates: the first administration page the signed-in user
    may open, or None (the home page's link); asked lazily."""

    def tenant_admin_url() -> str | None:
        if not current_user.is_authenticated:
            return None
        sections = _sections(current_user._get_current_object())
        return sections[0][1] if sections else None

    return {"tenant_admin_url": tenant_admin_url}


def _render(template: str, status: int = 200, **context: Any) -> Page:
    page = render_template(
        f"tenantadmin/{template}",
        sections=_sections(current_principal_user()),
        notices=get_flashed_messages(),
        **context,
    )
    return page if status == 200 else (page, status)


def _refusal(exc: ValidationFailed | Forbidden | Conflict) -> list[str]:
    errors: list[str] = exc.extra.get("errors") or [exc.description]
    return errors


# --- users ---------------------------------------------------------------------------------


def _users_page(status: int = 200, errors: list[str] | None = None) -> Page:
    page_number = request.args.get("page", "1")
    number = int(page_number) if page_number.isascii() and page_number.isdigit() else 1
    page = services.list_users(current_principal().family_id, page=max(number, 1), per_page=50)
    return _render(
        "users.html",
        status,
        users=page.items,
        pagination=page.pagination,
        roles=services.ASSIGNABLE_BASE_ROLES,
        me=current_principal_user().id,
        errors=errors or [],
    )


@pages_bp.get("/users")
@admin_page("admin.users")
def users_page() -> Page:
    return _users_page()


def _change_user(user_id: str, **change: Any) -> Page | Redirect:
    target = services.tenant_user(current_principal().family_id, user_id)
    try:
        changed = services.change_user(
            current_principal_user(), target, now=utcnow(), caller=current_caller(), **change
        )
    except REFUSALS as exc:
        return _users_page(exc.status, _refusal(exc))
    user = changed.user
    if "role" in change:
        flash(f"{user.email} is now {user.role}.")
    else:
        flash(
            f"{user.email} is active again."
            if user.active
            else f"{user.email} is deactivated; every credential of theirs was revoked."
        )
    return redirect(url_for("admin_pages.users_page"), code=303)


@pages_bp.post("/users/<user_id>/role")
@admin_page("admin.users", change=True)
def change_role(user_id: str) -> Page | Redirect:
    return _change_user(user_id, role=request.form.get("role", ""))


@pages_bp.post("/users/<user_id>/status")
@admin_page("admin.users", change=True)
def change_status(user_id: str) -> Page | Redirect:
    return _change_user(user_id, active=request.form.get("active") == "true")


# --- a user's API keys ---------------------------------------------------------------------


def _keys_page(
    user_id: str, status: int = 200, errors: list[str] | None = None, form: Any = None
) -> Page:
    target = services.tenant_user(current_principal().family_id, user_id)
    return _render(
        "user_keys.html",
        status,
        target=target,
        keys=services.user_api_keys(target, now=utcnow()),
        scopes=SCOPES,
        sources=SOURCES,
        form=form or {"name": "", "scope": "read_write", "source": "web"},
        errors=errors or [],
    )


@pages_bp.get("/users/<user_id>/api_keys")
@admin_page("admin.users", change=True)
def user_keys_page(user_id: str) -> Page:
    return _keys_page(user_id)


@pages_bp.post("/users/<user_id>/api_keys")
@admin_page("admin.users", change=True)
def create_user_key(user_id: str) -> Page:
    target = services.tenant_user(current_principal().family_id, user_id)
    form = {
        "name": request.form.get("name", ""),
        "scope": request.form.get("scope", "read_write"),
        "source": request.form.get("source", "web"),
    }
    days = request.form.get("expires_in_days", "").strip()
    now = utcnow()
    try:
        if days and not (days.isascii() and days.isdigit() and 1 <= int(days) <= 3650):
            raise ValidationFailed("Expires in days must be a whole number from 1 to 3650")
        created = services.create_user_api_key(
            current_principal_user(),
            target,
            name=form["name"],
            scope=form["scope"],
            source=form["source"],
            expires_at=now + timedelta(days=int(days)) if days else None,
            now=now,
            caller=current_caller(),
        )
    except REFUSALS as exc:
        return _keys_page(user_id, exc.status, _refusal(exc), form)
    # The one time the key is shown; headers.py marks every page no-store.
    return _render("key_created.html", 201, target=target, created=created)


@pages_bp.post("/users/<user_id>/api_keys/<key_id>/revoke")
@admin_page("admin.users", change=True)
def revoke_user_key(user_id: str, key_id: str) -> Redirect:
    target = services.tenant_user(current_principal().family_id, user_id)
    revoked = services.revoke_user_api_key(
        current_principal_user(), target, key_id, now=utcnow(), caller=current_caller()
    )
    flash(f'API key "{revoked.name}" revoked; it no longer works.')
    return redirect(url_for("admin_pages.user_keys_page", user_id=target.id), code=303)


# --- roles and settings --------------------------------------------------------------------


@pages_bp.get("/roles")
@admin_page("admin.roles")
def roles_page() -> Page:
    return _render("roles.html", roles=services.role_catalogue())


def _settings_page(status: int = 200, errors: list[str] | None = None, name: str = "") -> Page:
    tenant = services.tenant_settings(current_principal().family_id)
    return _render(
        "settings.html", status, tenant=tenant, name=name or tenant.name, errors=errors or []
    )


@pages_bp.get("/settings")
@admin_page("admin.settings")
def settings_page() -> Page:
    return _settings_page()


@pages_bp.post("/settings")
@admin_page("admin.settings", change=True)
def save_settings() -> Page | Redirect:
    name = request.form.get("name", "")
    try:
        services.rename_tenant(
            current_principal_user(),
            current_principal().family_id,
            name,
            now=utcnow(),
            caller=current_caller(),
        )
    except ValidationFailed as exc:
        return _settings_page(exc.status, _refusal(exc), name)
    flash("Settings saved.")
    return redirect(url_for("admin_pages.settings_page"), code=303)
