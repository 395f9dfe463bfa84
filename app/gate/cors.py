"""CORS for the API and OAuth surfaces: the same answer for every origin. ``*`` without
``Access-Control-Allow-Credentials`` means a browser shows a page of another origin only
responses to requests made without cookies."""

from __future__ import annotations

from flask import Response, request

CORS_PREFIXES = ("/api/", "/oauth/")
EXPOSED_HEADERS = (
    "X-Correlation-ID, X-RateLimit-Limit, X-RateLimit-Remaining, "
    "X-RateLimit-Reset, Retry-After, WWW-Authenticate"
)


def answer_preflight() -> Response | None:
    """A CORS preflight is answered here, before routing and authentication."""
    if request.method == "OPTIONS" and request.path.startswith(CORS_PREFIXES):
        return Response(status=200)
    return None


def add_cors_headers(response: Response) -> Response:
    if request.path.startswith(CORS_PREFIXES):
        response.headers.add("Access-Control-Allow-Origin", "*")
        response.headers.add("Access-Control-Expose-Headers", EXPOSED_HEADERS)
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = (
                "GET, POST, PUT, PATCH, DELETE, OPTIONS"
            )
            response.headers["Access-Control-Allow-Headers"] = request.headers.get(
                "Access-Control-Request-Headers",
                "Authorization, Content-Type, X-Api-Key, X-Correlation-ID",
            )
            response.headers["Access-Control-Max-Age"] = "600"
    return response
