"""RedCloud's example resources at the root (``/scans``, ``/dashboard``), served under
``/api/v1`` too (the factory registers this blueprint among the root JSON APIs, which gives it
the API error envelope and the twins). Views translate; app.resources.scans.services decides.

Scopes as on the other resources: reads need ``read``, writes ``read_write`` (a read-only
credential never runs or deletes a scan, whatever its user's role). The dashboard export is
licensed: the tenant's plan must include ``reports.export`` (403 FEATURE_DISABLED).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from marshmallow import EXCLUDE

from app.clock import utcnow
from app.errors import BadRequest
from app.gate import current_principal, require
from app.openapi import doc
from app.resources import schemas
from app.resources.scans import services as scans

bp = Blueprint("redcloud", __name__)

PAGE_QUERY = schemas.PageQuery(unknown=EXCLUDE)
SCAN_IN = schemas.ScanIn()
SCAN_OUT = schemas.ScanOut()
SCANS_OUT = schemas.ScanOut(many=True)
DASHBOARD_OUT = schemas.DashboardOut()
MESSAGE = {"type": "object", "properties": {"message": {"type": "string"}}}


@bp.get("/scans")
@require(scope="read", permission="scans.view")
@doc(
    "List the tenant's scans, newest first",
    response=schemas.ScanPage,
    query=schemas.PageQuery,
    tag="scans",
)
def scans_index() -> Response:
    query: dict[str, Any] = PAGE_QUERY.load(request.args.to_dict())
    page = scans.list_scans(current_principal().family_id, query["page"], query["per_page"])
    return jsonify(scans=SCANS_OUT.dump(page.items), pagination=page.pagination)


@bp.post("/scans")
@require(scope="write", permission="scans.run")
@doc(
    "Run a scan of a target (queued)",
    response=schemas.ScanOut,
    status=201,
    body=schemas.ScanIn,
    tag="scans",
)
def scans_create() -> tuple[Response, int]:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise BadRequest('Send a JSON object: {"target": "..."}')
    data: dict[str, Any] = SCAN_IN.load(payload)
    principal = current_principal()
    scan = scans.run_scan(
        principal.family_id,
        target=data["target"],
        created_by_user_id=principal.user_id,
        now=utcnow(),
    )
    return jsonify(SCAN_OUT.dump(scan)), 201


@bp.delete("/scans/<scan_id>")
@require(scope="write", permission="scans.delete")
@doc("Delete a scan", response=MESSAGE, tag="scans")
def scans_destroy(scan_id: str) -> Response:
    scans.delete_scan(current_principal().family_id, scan_id)
    return jsonify(message="Scan deleted successfully")


@bp.get("/dashboard")
@require(scope="read", permission="dashboard.view")
@doc(
    "The tenant's dashboard: scans counted by status",
    response=schemas.DashboardOut,
    tag="dashboard",
)
def dashboard() -> Response:
    counts = scans.count_by_status(current_principal().family_id)
    summary = {"scans": {"total": sum(counts.values()), "by_status": counts}}
    return jsonify(DASHBOARD_OUT.dump(summary))


@bp.get("/dashboard/export")
@require(scope="read", permission="dashboard.export", feature="reports.export")
@doc("Export the dashboard as CSV (the plan's reports.export feature)", tag="dashboard")
def dashboard_export() -> Response:
    body = scans.dashboard_csv(current_principal().family_id)
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="dashboard.csv"'},
    )
