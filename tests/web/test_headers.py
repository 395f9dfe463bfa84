"""The app-wide security headers (app/headers.py) and the API explorer pages: every response
is nosniff and same-origin-referrer; HTML pages are unframeable, uncached and script-locked,
the explorer alone allowing inline styles (Swagger UI)."""

from __future__ import annotations

from app.headers import EXPLORER_CSP, PAGE_CSP


def test_pages_get_the_page_policy(client):
    response = client.get("/login")
    assert response.headers["Content-Security-Policy"] == PAGE_CSP
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_json_gets_nosniff_and_referrer_policy_but_no_page_headers(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Content-Security-Policy" not in response.headers
    assert "X-Frame-Options" not in response.headers


def test_explorer_page_allows_inline_styles_only(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == EXPLORER_CSP
    assert "script-src 'self';" in EXPLORER_CSP
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_openapi_document_is_built_once_and_served_as_json(app, client):
    first = client.get("/api/v1/openapi.json")
    assert first.status_code == 200
    document = first.get_json()
    assert document["openapi"] == "3.1.0"
    assert "/api/v1/api_keys" in document["paths"]
    assert app.extensions["tollgate.openapi"] == document
    assert client.get("/api/v1/openapi.json").get_json() == document
