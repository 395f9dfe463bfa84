"""``/healthz``, ``/readyz`` and ``/metrics``, plus the per-request hooks that time every
request and (``LOG_FORMAT=json``) write its access line.

The probes are never authenticated and never cached. ``/metrics`` asks for
``Authorization: Bearer <METRICS_TOKEN>`` when that key is set.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from flask.signals import request_finished, request_started

from app import metrics
from app.errors import NO_STORE, Unauthorized, mark_json_api
from app.extensions import csrf
from app.gate.bearer import bearer_challenge, bearer_credential
from app.ops import logs, services

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up and serving."""
    response = jsonify(status="ok")
    response.headers.update(NO_STORE)
    return response


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Every configured store answers: 200, else 503 naming the one that did not."""
    ready, checks = services.readiness()
    response = jsonify(status="ok" if ready else "unavailable", checks=checks)
    response.headers.update(NO_STORE)
    return response, 200 if ready else 503


@bp.get("/metrics")
def metrics_view() -> Response:
    header = request.headers.get("Authorization")
    offered = bearer_credential(header) if header is not None else None
    if not services.metrics_token_accepted(current_app.config["METRICS_TOKEN"], offered):
        raise Unauthorized(
            "A valid metrics token is required",
            headers={"WWW-Authenticate": bearer_challenge(), **NO_STORE},
        )
    body, content_type = services.exposition()
    return Response(body, content_type=content_type, headers=NO_STORE)


def _started(sender: Flask, **_: Any) -> None:
    g.ops_started = time.perf_counter()
    g.ops_route = request.endpoint


def _finished(sender: Flask, response: Response, **_: Any) -> None:
    started = g.get("ops_started")
    elapsed = time.perf_counter() - started if started is not None else 0.0
    metrics.observe_request(request.endpoint, request.method, response.status_code, elapsed)
    if logs.json_enabled(sender) and logs.access_log.isEnabledFor(logging.INFO):
        logs.access_log.info(
            "%s %s %s",
            request.method,
            request.endpoint or "unmatched",
            response.status_code,
            extra={
                "access": {
                    "method": request.method,
                    "status": response.status_code,
                    "duration_ms": round(elapsed * 1000, 1),
                }
            },
        )


def init_app(app: Flask) -> None:
    """Register the probes (JSON errors, no CSRF: GET only) and the request hooks."""
    logs.configure(app)
    csrf.exempt(bp)
    app.register_blueprint(bp)
    mark_json_api(app, bp.name)
    request_started.connect(_started, app)
    request_finished.connect(_finished, app)
