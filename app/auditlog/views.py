"""The tenant's audit log over HTTP.

``bp`` (JSON, under /api/v1): ``GET /admin/audit_events`` (``audit.view``) lists the caller's
tenant's events, filtered and paginated; ``GET /admin/audit_events/export`` (``audit_logs.export``
and the tenant's ``reports.export`` feature) streams the same filters as CSV or NDJSON and is
itself audited (``audit_log.exported``). Any credential the gate resolves may read, service
credentials included (an access key or organisation admin token reads its own tenant's log);
the tenant is always the principal's, so no parameter can name another one.

``pages_bp`` (HTML, browser session only): ``/admin/audit``, a filterable table over the same
service, with export links when both the plan and the user allow exporting.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as WerkzeugResponse

from app.auditlog import exports, schemas, services
from app.clock import utcnow
from app.errors import NO_STORE, Forbidden
from app.gate import current_principal, require
from app.identity.grants import granted_permissions
from app.identity.models import User
from app.identity.roles import permissions_for
from app.identity.tenants import tenant_features
from app.openapi import doc
from app.requestctx import current_caller

bp = Blueprint("auditlog", __name__, url_prefix="/api/v1")
pages_bp = Blueprint("auditlog_pages", __name__, url_prefix="/admin/audit")

LIST_QUERY = schemas.AuditEventListQuery()
EXPORT_QUERY = schemas.AuditEventExportQuery()
VIEW, EXPORT, EXPORT_FEATURE = "audit.view", "audit_logs.export", "reports.export"


def _query_args(args: MultiDict[str, str]) -> dict[str, str]:
    """One value per parameter; an empty one is no filter (an HTML form sends every field)."""
    return {name: value for name, value in args.items() if value != ""}


@bp.get("/admin/audit_events")
@require(scope="read", permission=VIEW)
@doc(
    "Your tenant's audit events, newest first (filters combine; since inclusive, until exclusive)",
    response=schemas.AuditEventPage,
    query=schemas.AuditEventListQuery,
    tag="audit",
)
def index() -> Response:
    query = LIST_QUERY.load(_query_args(request.args))
    listing = services.list_events(
        current_principal().family_id,
        schemas.filters_of(query),
        page=query["page"],
        per_page=query["per_page"],
    )
    response = jsonify(
        {
            "events": [schemas.event_out(row) for row in listing.events],
            "pagination": listing.pagination,
        }
    )
    response.headers.update(NO_STORE)
    return response


@bp.get("/admin/audit_events/export")
@require(scope="read", permission=EXPORT, feature=EXPORT_FEATURE)
@doc(
    "Export your tenant's audit events as a CSV or NDJSON attachment (streamed; same "
    "filters as the list; the export is itself audited)",
    query=schemas.AuditEventExportQuery,
    tag="audit",
)
def export() -> Response:
    query = EXPORT_QUERY.load(_query_args(request.args))
    export_format: str = query.pop("format")
    filters = schemas.filters_of(query)
    principal = current_principal()
    now = utcnow()
    cut = services.export_cut()
    batches = services.export_batches(
        principal.family_id,
        filters,
        cut=cut,
        batch_size=current_app.config["AUDIT_LOG_EXPORT_BATCH_SIZE"],
    )
    services.record_export(
        principal.family_id,
        filters,
        export_format=export_format,
        cut=cut,
        actor_user_id=principal.user_id,
        credential_type=principal.credential_kind,
        now=now,
        caller=current_caller(),
    )
    response = Response(
        stream_with_context(exports.render(export_format, batches)),
        mimetype=exports.MIMETYPES[export_format],
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{exports.filename(export_format, now)}"'
    )
    response.headers.update(NO_STORE)
    return response


# --- the page -------------------------------------------------------------------------------

P = ParamSpec("P")
R = TypeVar("R")
OUTCOMES = ("success", "failure", "denied")
FORM_FIELDS = ("event", "outcome", "since", "until", "correlation_id")
# <input type="datetime-local"> sends local wall time without a zone; the page says it is UTC.
LOCAL_MINUTES = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", re.ASCII)
LOCAL_SECONDS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?", re.ASCII)


def _reader() -> User:
    user: User = current_user._get_current_object()
    return user


def _permissions(user: User) -> frozenset[str]:
    """The user's base role and granted roles, read live (as the gate does)."""
    return permissions_for(user.role) | granted_permissions(user.id)


def audit_page(view: Callable[P, R]) -> Callable[P, R | WerkzeugResponse]:
    """A page for holders of audit.view in the browser (the session cookie only): visitors
    sign in and come back, anyone else signed in gets the 403 page."""

    @functools.wraps(view)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R | WerkzeugResponse:
        if not current_user.is_authenticated:
            return redirect(url_for("web.login", next=request.path))
        if VIEW not in _permissions(_reader()):
            raise Forbidden("Only users who may view the audit log can open it.")
        return view(*args, **kwargs)

    return guarded


@pages_bp.app_context_processor
def _home_links() -> dict[str, Callable[[], bool]]:
    """``may_view_audit_log()`` for templates (a link to the page); asked lazily."""

    def may_view_audit_log() -> bool:
        return bool(current_user.is_authenticated) and VIEW in _permissions(_reader())

    return {"may_view_audit_log": may_view_audit_log}


def _as_rfc3339(text: str) -> str:
    """A datetime-local value (UTC wall time) as RFC 3339; anything else as typed, for the
    API's own validation to judge."""
    if LOCAL_MINUTES.fullmatch(text):
        return text + ":00Z"
    if LOCAL_SECONDS.fullmatch(text):
        return text + "Z"
    return text


def _api_params(form: MultiDict[str, str]) -> dict[str, str]:
    """The page's fields as the API's filters: an event ending in ``*`` is a prefix."""
    params: dict[str, str] = {}
    event = form.get("event", "").strip()
    if event.endswith("*"):
        params["event_prefix"] = event[:-1]
    elif event:
        params["event"] = event
    for name in ("outcome", "correlation_id"):
        value = form.get(name, "").strip()
        if value:
            params[name] = value
    for name in ("since", "until"):
        value = form.get(name, "").strip()
        if value:
            params[name] = _as_rfc3339(value)
    return params


def _problems(error: ValidationError) -> list[str]:
    messages = error.messages if isinstance(error.messages, dict) else {"": error.messages}
    return [
        f"{name}: {text}" if name and name != "_schema" else str(text)
        for name, texts in messages.items()
        for text in (texts if isinstance(texts, list) else [texts])
    ]


def _details_text(details: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (key, value if isinstance(value, str) else json.dumps(value, sort_keys=True))
        for key, value in sorted(details.items())
    ]


def _export_link(export_format: str, params: dict[str, str]) -> str:
    """The API's export of what the page shows (the session cookie authenticates a GET)."""
    arguments: dict[str, Any] = {"format": export_format, **params}
    return url_for("auditlog.export", **arguments)


@pages_bp.get("")
@audit_page
def list_page() -> str | tuple[str, int]:
    reader = _reader()
    form = {name: request.args.get(name, "") for name in FORM_FIELDS}
    params = _api_params(request.args)
    page_text = request.args.get("page") or "1"
    context: dict[str, Any] = {"form": form, "outcomes": OUTCOMES, "problems": []}
    try:
        query = LIST_QUERY.load({**params, "page": page_text})
    except ValidationError as error:
        context["problems"] = _problems(error)
        return render_template("auditlog/list.html", listing=None, **context), 422
    listing = services.list_events(
        reader.family_id, schemas.filters_of(query), page=query["page"], per_page=query["per_page"]
    )
    may_export = EXPORT in _permissions(reader) and EXPORT_FEATURE in tenant_features(
        reader.family_id
    )
    return render_template(
        "auditlog/list.html",
        listing=listing,
        events=[
            {**schemas.event_out(row), "details": _details_text(row.details or {})}
            for row in listing.events
        ],
        actors={
            str(user_id): email
            for user_id, email in services.tenant_actor_emails(
                reader.family_id, listing.events
            ).items()
        },
        filter_args={name: value for name, value in form.items() if value},
        export_links=(
            {fmt: _export_link(fmt, params) for fmt in schemas.FORMATS} if may_export else {}
        ),
        **context,
    )
