"""Break-glass over HTTP: the gate's ``master_key`` verifier (it reads the request's headers,
so it lives with the views), the audit of each request's result, and the platform
super-admins' JSON routes and pages (``/api/v1/platform/break_glass``,
``/api/v1/platform/tenants``, ``/platform/break_glass``, ``/platform/tenants``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from werkzeug.wrappers import Response as Redirect

from app.breakglass import platform, services, settings
from app.breakglass.schemas import BreakGlassStatusOut, PlatformTenantPage, PlatformTenantQuery
from app.clock import utcnow
from app.config import current_region
from app.errors import Forbidden
from app.gate import Principal, Slot, current_principal, register_verifier, require
from app.openapi import doc
from app.requestctx import current_caller

bp = Blueprint("breakglass", __name__, url_prefix="/api/v1/platform")
pages_bp = Blueprint("breakglass_pages", __name__, url_prefix="/platform")

MASTER_KEY_HEADER = "X-Master-Key"
SUPER_ADMIN = "super_admin"
NOT_SUPER_ADMIN = "Only platform super-admins can do this"
STATUS_OUT = BreakGlassStatusOut()
TENANT_PAGE = PlatformTenantPage()
TENANT_QUERY = PlatformTenantQuery()
P = ParamSpec("P")
R = TypeVar("R")


# --- the gate's verifier -----------------------------------------------------------------------


def _header(name: str) -> str | None:
    """A request header as text: HTTP carries bytes, which WSGI hands over as Latin-1; a
    client sending UTF-8 (a reason in another language) gets its characters back."""
    value = request.headers.get(name)
    if value is None:
        return None
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def _attempt() -> services.Attempt:
    attempt = services.Attempt(
        method=request.method,
        path=request.path,  # never the query string (T30)
        reason=services.sanitise(_header("X-Break-Glass-Reason"), services.REASON_MAX_LENGTH),
        requested_tenant=services.sanitise(
            _header("X-Tenant-ID"), services.TENANT_HEADER_MAX_LENGTH
        ),
        user_agent=services.sanitise(request.user_agent.string, services.USER_AGENT_MAX_LENGTH),
    )
    g.break_glass = attempt
    return attempt


class MasterKeyVerifier:
    """``X-Master-Key`` (the gate hands over the value whenever the header is present, even
    empty). Inactive or wrong: CredentialRejected, the same 401 either way."""

    slot: Slot = "master_key"

    def accepts(self, credential: str) -> bool:
        return True  # the only verifier of its slot: whatever the header holds, it decides

    def verify(self, credential: str) -> Principal:
        attempt = _attempt()
        services.admit(
            attempt,
            credential,
            ip=request.remote_addr or "unknown",
            now=utcnow(),
            caller=current_caller(),
        )
        tenant = attempt.tenant
        if tenant is None:  # admit() returns only once the tenant is verified
            raise RuntimeError("break-glass admitted without a tenant")
        return Principal(
            family_id=tenant,
            credential_kind="break_glass",
            credential_id="master",
            scopes=frozenset({"read_write"}),
            service_permissions=services.current_settings().permissions,
            break_glass=True,
            region=current_region(),
            details={"reason": attempt.reason},
        )


def _gated_endpoint() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return view is not None and hasattr(view, "required_credentials")


def _record_result(response: Response) -> Response:
    """After every break-glass request: its result, as a new audit row. A master-key header
    the gate refused before asking the verifier (an empty one) is audited as denied too."""
    attempt: services.Attempt | None = g.get("break_glass")
    if attempt is None:
        if (
            MASTER_KEY_HEADER not in request.headers
            or response.status_code != 401
            or not _gated_endpoint()
        ):
            return response
        attempt = _attempt()
        attempt.failure = "invalid_key"
    services.record_result(attempt, response.status_code, now=utcnow(), caller=current_caller())
    return response


def init_app(app: Flask) -> None:
    """Check the configuration (ConfigurationError at start-up), register the verifier of
    slot ``master_key`` and the audit of each break-glass request's result."""
    app.extensions[services.EXTENSION_KEY] = settings.load(app.config)
    register_verifier(app, MasterKeyVerifier())
    app.after_request(_record_result)


# --- platform JSON routes (super-admins; break-glass is never one) -----------------------------


def _platform(scope: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    return require(
        scope=scope, permission="platform.manage", user_required=True, first_party_only=True
    )


def _require_super_admin() -> None:
    """The DB flag, not only a permission (003.40): a user-bound principal whose role is
    super_admin. Break-glass has no user and is never one."""
    principal = current_principal()
    if principal.break_glass or not principal.user_bound or principal.role != SUPER_ADMIN:
        raise Forbidden(NOT_SUPER_ADMIN)


@bp.get("/break_glass")
@_platform("read")
@doc(
    "The break-glass state: enabled, active, expiry, permissions, allowlist, recent use "
    "(platform super-admins; never the key)",
    response=BreakGlassStatusOut,
    tag="platform",
)
def break_glass_status() -> Response:
    _require_super_admin()
    state = platform.status(services.current_settings(), utcnow())
    return jsonify(STATUS_OUT.dump(state))


@bp.get("/tenants")
@_platform("read")
@doc(
    "Every tenant with its user count (platform super-admins; the only cross-tenant listing)",
    response=PlatformTenantPage,
    query=PlatformTenantQuery,
    tag="platform",
)
def tenants_index() -> Response:
    _require_super_admin()
    query = TENANT_QUERY.load(request.args.to_dict())
    listing = platform.list_tenants(
        page=query["page"], per_page=query["per_page"], region=query.get("region")
    )
    return jsonify(TENANT_PAGE.dump({"tenants": listing.rows, "pagination": listing.pagination()}))


# --- pages (the browser session of a super-admin) ----------------------------------------------


def super_admin_page(view: Callable[P, R]) -> Callable[P, R | Redirect]:
    """A page for platform super-admins, in the browser only (the session cookie): signed-out
    visitors go to sign in and come back, anyone else gets 403."""

    @wraps(view)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R | Redirect:
        if not current_user.is_authenticated:
            return redirect(url_for("web.login", next=request.path))
        if current_user.role != SUPER_ADMIN:
            raise Forbidden(NOT_SUPER_ADMIN)
        return view(*args, **kwargs)

    return guarded


@pages_bp.get("/break_glass")
@super_admin_page
def status_page() -> str:
    now = utcnow()
    return render_template(
        "breakglass/status.html", state=platform.status(services.current_settings(), now)
    )


@pages_bp.get("/tenants")
@super_admin_page
def tenants_page() -> str:
    page = request.args.get("page", 1, type=int) or 1
    listing = platform.list_tenants(page=page, per_page=25)
    return render_template("breakglass/tenants.html", listing=listing)
