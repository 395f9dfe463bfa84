"""/metrics: Prometheus text exposition, optionally behind METRICS_TOKEN; request latency per
route (endpoint names, never raw paths), gate authentication outcomes, rate-limit refusals,
OAuth token issuance, revocation and refresh-token reuse.

Counters live in the test process's registry and every test's app adds to them, so each test
reads a value before and after what it does and compares the difference."""

from __future__ import annotations

import uuid

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from tests.support.http import api_key, bearer
from tests.support.oauth import refresh


def scrape(client: FlaskClient, **headers: str) -> str:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def value(client: FlaskClient, name: str, **labels: str) -> float:
    """The sample ``name`` with exactly these labels (0 when it was never counted)."""
    for family in text_string_to_metric_families(scrape(client)):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def test_metrics_are_prometheus_text_uncached(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    assert "# TYPE tollgate_http_request_duration_seconds histogram" in body
    assert "# TYPE tollgate_authentications_total counter" in body


@pytest.mark.config(METRICS_TOKEN="metrics-secret-token")
def test_metrics_token_is_required_when_configured(client):
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers=bearer("metrics-secret-tokeN"))
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert wrong.get_json()["error"] == "unauthorized"
    assert client.get("/metrics", headers=bearer("metrics-secret-token")).status_code == 200
    # The probes stay open: a load balancer has no token.
    assert client.get("/healthz").status_code == 200


def test_request_latency_is_labelled_by_route_not_path(client, user, make_key):
    key = make_key(user)
    series = {"endpoint": "ops.healthz", "method": "GET", "status": "2xx"}
    before = value(client, "tollgate_http_request_duration_seconds_count", **series)
    client.get("/healthz")
    client.get("/healthz")
    after = value(client, "tollgate_http_request_duration_seconds_count", **series)
    assert after - before == 2

    account = str(uuid.uuid4())
    assert client.get(f"/api/v1/accounts/{account}", headers=api_key(key)).status_code == 404
    missing = f"/no/such/page/{uuid.uuid4()}"
    assert client.get(missing).status_code == 404
    body = scrape(client)
    assert account not in body and missing not in body
    assert 'endpoint="unmatched",method="GET",status="4xx"' in body
    families = {f.name: f for f in text_string_to_metric_families(body)}
    latency = families["tollgate_http_request_duration_seconds"]
    endpoints = {sample.labels["endpoint"] for sample in latency.samples}
    assert any(e.startswith("resources.") for e in endpoints), endpoints


def test_unusual_methods_share_one_label(client):
    client.open("/healthz", method="BREW")
    assert 'method="other"' in scrape(client)


def test_authentication_outcomes_by_credential_kind(app, user, make_key, tokens):
    client = app.test_client()  # no browser session (``tokens`` signed its own client in)
    key = make_key(user)
    expected = {
        ("api_key", "success"): api_key(key),
        ("oauth", "success"): bearer(tokens["access_token"]),
        ("bearer", "rejected"): bearer("tg_at_not-a-real-token"),
        ("api_key", "rejected"): api_key("tg_nope"),
        ("none", "missing"): {},
    }
    signed_in = (("session", "success"), {})
    for (kind, outcome), headers in expected.items():
        before = value(client, "tollgate_authentications_total", kind=kind, outcome=outcome)
        client.get("/api/v1/accounts", headers=headers)
        after = value(client, "tollgate_authentications_total", kind=kind, outcome=outcome)
        assert after - before == 1, (kind, outcome)
    # the browser session that ``tokens`` signed in with
    from tests.support.web import login

    (kind, outcome), _ = signed_in
    assert login(client, user.email, user.password).status_code == 302
    before = value(client, "tollgate_authentications_total", kind=kind, outcome=outcome)
    assert client.get("/api/v1/accounts").status_code == 200
    assert value(client, "tollgate_authentications_total", kind=kind, outcome=outcome) - before == 1


@pytest.mark.config(RATE_LIMIT_AUTH_FAILURES_IP="2 per 1 hour")
def test_rate_limit_refusals_are_counted_by_route(client):
    route = {"endpoint": "resources.accounts_index"}
    before = value(client, "tollgate_rate_limit_refusals_total", **route)
    statuses = [
        client.get("/api/v1/accounts", headers=bearer("tg_at_bad")).status_code for _ in range(4)
    ]
    assert statuses == [401, 401, 429, 429]
    after = value(client, "tollgate_rate_limit_refusals_total", **route)
    assert after - before == 2


def test_token_issuance_rotation_revocation_and_reuse(client, oauth_client, tokens):
    # ``tokens`` already issued one by the authorization code grant; count what follows.
    issued = {"grant_type": "refresh_token", "rotation": "true"}
    rotated_before = value(client, "tollgate_oauth_tokens_issued_total", **issued)
    reuse_before = value(client, "tollgate_refresh_token_reuse_total", profile="oauth")
    revoked_before = value(client, "tollgate_oauth_tokens_revoked_total", token_type="access_token")

    rotated = refresh(client, oauth_client, tokens["refresh_token"])
    assert rotated.status_code == 200
    assert value(client, "tollgate_oauth_tokens_issued_total", **issued) - rotated_before == 1

    revoked = client.post(
        "/oauth/revoke",
        data={"token": rotated.get_json()["access_token"]},
        headers=oauth_client.basic_auth,
    )
    assert revoked.status_code == 200
    after = value(client, "tollgate_oauth_tokens_revoked_total", token_type="access_token")
    assert after - revoked_before == 1

    replay = refresh(client, oauth_client, tokens["refresh_token"])  # rotated already
    assert replay.status_code == 400
    assert value(client, "tollgate_refresh_token_reuse_total", profile="oauth") - reuse_before == 1


def test_authorization_code_issuance_is_counted(signed_in, oauth_client):
    from tests.support.oauth import authorize, exchange_code

    series = {"grant_type": "authorization_code", "rotation": "false"}
    before = value(signed_in, "tollgate_oauth_tokens_issued_total", **series)
    auth = authorize(signed_in, oauth_client, scope="read")
    assert exchange_code(signed_in, oauth_client, auth).status_code == 200
    assert value(signed_in, "tollgate_oauth_tokens_issued_total", **series) - before == 1
