"""Security headers on every response: nosniff, the referrer policy, HSTS over HTTPS, and for
HTML pages framing, content-security and caching rules. A view that sets one of these itself
keeps its own value."""

from __future__ import annotations

from flask import Flask, request
from werkzeug.wrappers import Response

HSTS = "max-age=31536000; includeSubDomains"
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# Swagger UI sets inline styles; scripts still come only from this origin.
EXPLORER_PATH = "/api/docs"
EXPLORER_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # same-origin, not no-referrer: nothing leaks to other sites either way, but under
    # no-referrer browsers send "Origin: null" on form POSTs and the CSRF same-origin check
    # (extensions.SameOriginCSRFProtect) could not tell our own forms from a forged one.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.is_secure:  # honours X-Forwarded-Proto only from TRUSTED_PROXY_COUNT proxies
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    if response.mimetype == "text/html":
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Content-Security-Policy", EXPLORER_CSP if request.path == EXPLORER_PATH else PAGE_CSP
        )
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    app.after_request(security_headers)
