"""Every JSON route outside the Sure contract is also served under /api/v1: same view, same
methods (so the same protection), and the same RFC error shape."""

from __future__ import annotations

from app.oauth2.views import JSON_ENDPOINTS


def test_every_json_route_has_an_api_v1_twin(app) -> None:
    rules = list(app.url_map.iter_rules())
    by_path = {(rule.rule, frozenset(rule.methods)): rule for rule in rules}
    originals = [r for r in rules if r.endpoint in JSON_ENDPOINTS]
    assert len(originals) == len(JSON_ENDPOINTS)
    for rule in originals:
        twin = by_path.get(("/api/v1" + rule.rule, frozenset(rule.methods)))
        assert twin is not None, f"{rule.rule} has no /api/v1 twin"
        assert app.view_functions[twin.endpoint] is app.view_functions[rule.endpoint]


SURE_WINS = {"/auth/login", "/auth/refresh"}


def test_json_routes_not_listed_are_under_api_v1_already(app) -> None:
    """A JSON route added later without a twin fails here: anything outside /api/v1 that is
    not a page, a static file or a listed OAuth endpoint is a mistake."""
    pages = {
        "static",
        "oauth2.authorize",
        "oauth2.authorize_decision",
        "oauth2.end_session",  # OpenID Connect RP-initiated logout: pages, not JSON
        "oauth2.end_session_confirm",
        "docs.explorer",
    }
    served = {(rule.rule, app.view_functions[rule.endpoint]) for rule in app.url_map.iter_rules()}
    for rule in app.url_map.iter_rules():
        # The web blueprint and the features' *_pages blueprints hold the browser pages
        # (HTML, never JSON).
        if (
            rule.rule.startswith("/api/v1/")
            or rule.endpoint in pages
            or rule.endpoint.startswith("web.")
            or rule.endpoint.split(".")[0].endswith("_pages")
            # Single sign-on's browser legs (start, callback, failure, second factor, linking,
            # the apps' starts and the desktop exchange) answer with pages and redirects.
            or rule.endpoint.split(".")[0] in {"sso", "sso_mobile"}
            # Operators' probes and metrics (/healthz, /readyz, /metrics) sit at the root,
            # where load balancers and Prometheus look for them: no API, so no twin.
            or rule.endpoint.startswith("ops.")
        ):
            continue
        # A view registered at both paths itself (SureCloud's /auth/token) has its twin.
        if ("/api/v1" + rule.rule, app.view_functions[rule.endpoint]) in served:
            continue
        # RedCloud's session login and refresh: their /api/v1 paths are Sure's (Sure wins).
        if rule.rule in SURE_WINS:
            assert ("/api/v1" + rule.rule) in {path for path, _ in served}, rule.rule
            continue
        assert rule.endpoint in JSON_ENDPOINTS, f"{rule.rule} ({rule.endpoint}) lacks a twin"


def test_twin_speaks_the_same_protocol(client) -> None:
    for path in ("/oauth/token", "/api/v1/oauth/token"):
        response = client.post(path, data={"grant_type": "nope"})
        assert response.status_code == 400
        assert response.get_json() == {"error": "unsupported_grant_type"}
        assert response.headers["Cache-Control"] == "no-store"
    metadata = client.get("/api/v1/.well-known/oauth-authorization-server").get_json()
    assert metadata == client.get("/.well-known/oauth-authorization-server").get_json()
    assert client.get("/api/v1/oauth/token/info").status_code == 401
