"""The per-request plumbing every request and response goes through, wired in order."""

from __future__ import annotations

from flask import Flask, Response, g

from app.gate import correlation, cors, limits, storable


def _finish(response: Response) -> Response:
    """The gate's response headers. Only this hook writes them, so they are appended
    (``Headers.add``) rather than set: ``set`` scans every header already there."""
    correlation.add_correlation_header(response)
    tenant = g.get("tenant_id")
    if tenant is not None:  # the tenant the request acted in (RedCloud), errors included
        response.headers.add("X-Tenant-ID", str(tenant))
    cors.add_cors_headers(response)
    return limits.add_headers(response)


def init_app(app: Flask) -> None:
    """Register before requestctx: the caller it binds carries the correlation id."""
    app.before_request(correlation.bind_correlation_id)
    # A preflight answered here skips the input check (and everything after it).
    app.before_request(cors.answer_preflight)
    app.before_request(storable.refuse_unstorable_input)
    app.after_request(_finish)
    correlation.install_log_record_factory()
