"""``GET /organizations/sso`` (seed 002, reference §4.6): a partner's HS256 assertion, signed
with the ssoSecret's raw bytes, buys one 24-hour organisation admin token (002.10-002.15,
002.21). The traps (T12): only HS256, a timestamp read as UTC that may be neither older than
15 minutes nor in the future beyond 60 s, ``exp`` enforced, organizationId trusted only once
the signature checks out, the route not swallowed by ``/organizations/<id>``, the assertion
accepted nowhere else; single use (decision D3); failures audited and throttled per IP."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.clock import rfc3339, utcnow
from tests.support.http import api_error, assert_no_store, bearer
from tests.support.partners import (
    ORGANIZATIONS,
    SSO,
    UUID4_RE,
    Partner,
    assertion,
    exchange,
    sign,
    stamp,
)


def parse_time(value: str):  # type: ignore[no-untyped-def]
    from datetime import datetime

    assert value.endswith("Z"), value
    return datetime.fromisoformat(value.removesuffix("Z"))


def refused(response, status: int, error: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert response.status_code == status, (response.status_code, response.get_json())
    body = api_error(response)
    assert body["error"] == error, body
    return body


@pytest.fixture
def org(organization: dict[str, Any]) -> tuple[str, str]:
    return organization["ssoSecret"], organization["organizationId"]


# --- the exchange ------------------------------------------------------------------------------


def test_an_assertion_buys_a_24_hour_uuid_admin_token(app, api, org) -> None:
    secret, organization_id = org
    before = utcnow().replace(microsecond=0)
    response = exchange(api, assertion(secret, organization_id))
    assert response.status_code == 200, response.get_json()
    assert_no_store(response)
    body = response.get_json()
    assert set(body) == {"token", "expires_in", "expires_at"}
    assert re.match(UUID4_RE, body["token"])
    assert body["expires_in"] == 86400
    expires = parse_time(body["expires_at"])
    assert before + timedelta(seconds=86400) <= expires <= utcnow() + timedelta(seconds=86400)

    # Only the token's digest is stored; the audit row names the token row, never the token.
    from app.audit.models import AuditEvent
    from app.crypto import digest
    from app.extensions import db
    from app.partners.models import OrgAdminToken

    with app.app_context():
        row = db.session.scalars(select(OrgAdminToken)).one()
        assert row.token_digest == digest(body["token"])
        assert str(row.family_id) == organization_id
        assert row.region == app.config["REGION"]
        assert row.issued_by_user_id is None
        assert rfc3339(row.expires_at) == body["expires_at"]
        for table in ("org_admin_tokens", "audit_events", "partner_assertions"):
            rows = repr(db.session.execute(db.text(f"SELECT * FROM {table}")).all())
            assert body["token"] not in rows, table
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "organization.admin_token_issued")
        ).one()
        assert event.outcome == "success"
        assert str(event.family_id) == organization_id
        assert event.details["org_admin_token_id"] == str(row.id)


def test_the_root_path_works_too(api, org) -> None:
    secret, organization_id = org
    response = exchange(api, assertion(secret, organization_id), path="/organizations/sso")
    assert response.status_code == 200, response.get_json()


def test_the_token_authenticates_later_calls_for_its_organization(api, org) -> None:
    """002.16: GET /organizations with the admin token answers that organisation."""
    secret, organization_id = org
    token = exchange(api, assertion(secret, organization_id)).get_json()["token"]
    listed = api.get("/organizations", headers=bearer(token))
    assert listed.status_code == 200
    assert [o["organizationId"] for o in listed.get_json()] == [organization_id]


def test_a_jwt_io_style_assertion_with_extra_claims_and_no_typ_works(api, org) -> None:
    secret, organization_id = org
    claims = {"organizationId": organization_id, "timestamp": stamp(), "sub": "partner-backend"}
    jwt = sign(secret, claims, header={"alg": "HS256"})
    assert exchange(api, jwt).status_code == 200


def test_the_secret_is_used_as_its_raw_bytes_not_base64_decoded(api, org) -> None:
    """T12: jwt.io's "secret base64 encoded" is off by default; a partner who decodes the
    secret signs with other bytes, and the signature does not match."""
    secret, organization_id = org
    decoded = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    claims = {"organizationId": organization_id, "timestamp": stamp()}
    response = exchange(api, sign(decoded, claims))
    body = refused(response, 401, "invalid_assertion")
    assert "signature" in body["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# --- the algorithm (HS256 only) ------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "HS512", "RS256", "HS384", "hs256"])
def test_any_algorithm_but_hs256_is_refused(api, org, alg: str) -> None:
    secret, organization_id = org
    claims = {"organizationId": organization_id, "timestamp": stamp()}
    refused(exchange(api, sign(secret, claims, alg=alg)), 401, "invalid_assertion")


def test_a_header_without_alg_is_refused(api, org) -> None:
    secret, organization_id = org
    jwt = sign(secret, {"organizationId": organization_id, "timestamp": stamp()}, header={})
    refused(exchange(api, jwt), 401, "invalid_assertion")


def test_a_critical_header_extension_is_refused(api, org) -> None:
    secret, organization_id = org
    claims = {"organizationId": organization_id, "timestamp": stamp()}
    jwt = sign(secret, claims, header={"alg": "HS256", "crit": ["b64"], "b64": True})
    refused(exchange(api, jwt), 401, "invalid_assertion")


@pytest.mark.parametrize(
    "value", ["", "not-a-jwt", "a.b", "a.b.c.d", "eyJhbGciOiJIUzI1NiJ9.e30.", "x" * 9000]
)
def test_what_is_not_a_compact_jws_is_a_401(api, value: str) -> None:
    response = api.get(SSO, headers={"Authorization": f"Bearer {value}"})
    refused(response, 401, "invalid_assertion")


def test_a_payload_that_is_not_a_json_object_is_a_401(api, org) -> None:
    secret, _ = org
    jwt = sign(secret, ["not", "an", "object"])  # type: ignore[arg-type]
    refused(exchange(api, jwt), 401, "invalid_assertion")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic cGFydG5lcjpwYXNz"}, {"X-Api-Key": "tgk_whatever"}],
)
def test_no_bearer_assertion_is_a_401(api, headers) -> None:
    response = api.get(SSO, headers=headers)
    refused(response, 401, "invalid_assertion")
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="Tollgate"')


# --- the claims --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "claims",
    [
        {"timestamp": "<now>"},
        {"organizationId": "", "timestamp": "<now>"},
        {"organizationId": 12345, "timestamp": "<now>"},
        {"organizationId": "<org>"},
        {"organizationId": "<org>", "timestamp": ""},
        {"organizationId": "<org>", "timestamp": 1767225600},
        {"organizationId": "<org>", "timestamp": "2026-12-06 10:00:00"},
        {"organizationId": "<org>", "timestamp": "2026-12-06T10:00"},
        {"organizationId": "<org>", "timestamp": "2026-12-06T10:00:00+02:00"},
        {"organizationId": "<org>", "timestamp": "2026-13-06T10:00:00"},
        {"organizationId": "<org>", "timestamp": "2026-12-06T25:00:00"},
        {"organizationId": "<org>", "timestamp": "06/12/2026 10:00:00"},
        {"organizationId": "<org>", "timestamp": "<now>", "exp": "tomorrow"},
        {"organizationId": "<org>", "timestamp": "<now>", "exp": True},
    ],
)
def test_missing_or_malformed_claims_are_a_400(api, org, claims: dict[str, Any]) -> None:
    secret, organization_id = org
    filled = {
        k: (organization_id if v == "<org>" else stamp() if v == "<now>" else v)
        for k, v in claims.items()
    }
    refused(exchange(api, sign(secret, filled)), 400, "invalid_claims")


def test_a_timestamp_with_fractions_and_z_as_javascript_writes_it_is_accepted(api, org) -> None:
    secret, organization_id = org
    written = utcnow().strftime("%Y-%m-%dT%H:%M:%S.") + "123Z"
    jwt = sign(secret, {"organizationId": organization_id, "timestamp": written})
    assert exchange(api, jwt).status_code == 200


def test_an_organization_id_that_is_no_uuid_is_a_404(api, org) -> None:
    secret, _ = org
    jwt = sign(secret, {"organizationId": "organization 1", "timestamp": stamp()})
    refused(exchange(api, jwt), 404, "record_not_found")


def test_an_unknown_organization_is_a_404(api, org) -> None:
    secret, _ = org
    refused(exchange(api, assertion(secret, str(uuid.uuid4()))), 404, "record_not_found")


def test_a_tenant_that_is_no_organization_is_a_404(api, org, partner_user) -> None:
    """The partner's own tenant (or any family) is not an organisation: no ssoSecret."""
    secret, _ = org
    refused(exchange(api, assertion(secret, str(partner_user.family_id))), 404, "record_not_found")


def test_the_organization_id_is_trusted_only_after_the_signature(api, partner: Partner) -> None:
    """T12 use-before-verify: an assertion naming organisation B, signed with A's secret, is
    checked against B's secret and refused."""
    first = partner.organization("A")
    second = partner.organization("B")
    jwt = assertion(first["ssoSecret"], second["organizationId"])
    body = refused(exchange(api, jwt), 401, "invalid_assertion")
    assert "signature" in body["message"]


def test_a_tampered_payload_fails_the_signature(api, org, partner: Partner) -> None:
    secret, organization_id = org
    other = partner.organization("other")["organizationId"]
    header, _, signature = assertion(secret, organization_id).split(".")
    forged_payload = assertion(secret, other).split(".")[1]
    refused(exchange(api, f"{header}.{forged_payload}.{signature}"), 401, "invalid_assertion")


# --- time: 15 minutes back, 60 seconds ahead, UTC -----------------------------------------------


def _exchange_at(app, jwt: str, now):  # type: ignore[no-untyped-def]
    """The service at a given ``now`` (time passed in, not frozen)."""
    from app.errors import TollgateError
    from app.partners import tokens

    with app.test_request_context():
        try:
            issued = tokens.exchange(jwt, now=now)
        except TollgateError as exc:
            return exc.status, exc.error, exc.description
        return 200, issued.token, None


@pytest.mark.parametrize(
    ("age_seconds", "status"),
    [
        (0, 200),
        (14 * 60 + 59, 200),
        (15 * 60, 200),  # exactly fifteen minutes: still valid
        (15 * 60 + 1, 401),  # a second later: refused
        (3600, 401),
        (-60, 200),  # a minute ahead: clock skew
        (-61, 401),  # beyond the leeway: refused (a future timestamp is not valid for ever)
        (-3600, 401),
        (-365 * 86400, 401),
    ],
)
def test_the_validity_window_is_15_minutes_back_and_60_seconds_ahead(
    app, org, age_seconds: int, status: int
) -> None:
    secret, organization_id = org
    now = utcnow().replace(microsecond=0)
    jwt = assertion(secret, organization_id, now - timedelta(seconds=age_seconds))
    result = _exchange_at(app, jwt, now)
    assert result[0] == status, result
    if status == 401:
        assert result[1] == "invalid_assertion"


def test_an_old_timestamp_says_so(api, org) -> None:
    secret, organization_id = org
    jwt = assertion(secret, organization_id, utcnow() - timedelta(minutes=20))
    body = refused(exchange(api, jwt), 401, "invalid_assertion")
    assert "15 minutes old" in body["message"]


def test_a_future_timestamp_says_so(api, org) -> None:
    secret, organization_id = org
    jwt = assertion(secret, organization_id, utcnow() + timedelta(minutes=5))
    body = refused(exchange(api, jwt), 401, "invalid_assertion")
    assert "future" in body["message"]


def test_the_timestamp_is_read_as_utc(api, org) -> None:
    """A partner writing local time two hours ahead of UTC (e.g. CEST) is two hours in the
    future, and one two hours behind (e.g. Eastern) is two hours old: both refused."""
    secret, organization_id = org
    for offset in (timedelta(hours=2), timedelta(hours=-2)):
        jwt = assertion(secret, organization_id, utcnow() + offset)
        refused(exchange(api, jwt), 401, "invalid_assertion")


def test_the_window_is_configurable(app, org) -> None:
    secret, organization_id = org
    now = utcnow().replace(microsecond=0)
    app.config.update(PARTNER_ASSERTION_LIFETIME=60, PARTNER_ASSERTION_LEEWAY=5)
    assert (
        _exchange_at(app, assertion(secret, organization_id, now - timedelta(seconds=61)), now)[0]
        == 401
    )
    assert (
        _exchange_at(app, assertion(secret, organization_id, now + timedelta(seconds=6)), now)[0]
        == 401
    )
    assert _exchange_at(app, assertion(secret, organization_id, now), now)[0] == 200


@pytest.mark.parametrize(("exp_offset", "status"), [(-120, 401), (-61, 401), (600, 200)])
def test_exp_is_enforced_when_present(app, org, exp_offset: int, status: int) -> None:
    from app.clock import epoch

    secret, organization_id = org
    now = utcnow().replace(microsecond=0)
    jwt = assertion(secret, organization_id, now, exp=epoch(now) + exp_offset)
    result = _exchange_at(app, jwt, now)
    assert result[0] == status, result


def test_a_nan_exp_is_malformed(api, org) -> None:
    secret, organization_id = org
    header, _, _ = assertion(secret, organization_id).split(".")
    import hashlib
    import hmac

    from tests.support.partners import b64url

    payload = b64url(
        f'{{"organizationId":"{organization_id}","timestamp":"{stamp()}","exp":NaN}}'.encode()
    )
    signing_input = f"{header}.{payload}"
    signature = b64url(hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest())
    refused(exchange(api, f"{signing_input}.{signature}"), 400, "invalid_claims")


# --- single use ---------------------------------------------------------------------------------


def test_an_assertion_works_once(app, api, org) -> None:
    secret, organization_id = org
    jwt = assertion(secret, organization_id)
    assert exchange(api, jwt).status_code == 200
    body = refused(exchange(api, jwt), 401, "invalid_assertion")
    assert "already used" in body["message"]
    from app.extensions import db
    from app.partners.models import OrgAdminToken, PartnerAssertion

    with app.app_context():
        assert len(db.session.scalars(select(OrgAdminToken)).all()) == 1
        claimed = db.session.scalars(select(PartnerAssertion)).one()
        assert str(claimed.family_id) == organization_id
        assert jwt not in repr(
            db.session.execute(db.text("SELECT * FROM partner_assertions")).all()
        )


def test_a_replay_with_the_signature_respelled_is_still_a_replay(api, org) -> None:
    """The last base64url character of a 32-byte signature carries 2 spare bits: flipping
    them changes the text, not the bytes. Single use is keyed on the bytes."""
    secret, organization_id = org
    jwt = assertion(secret, organization_id)
    assert exchange(api, jwt).status_code == 200
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(jwt[-1])
    respelled = jwt[:-1] + alphabet[last ^ 1]
    refused(exchange(api, respelled), 401, "invalid_assertion")


def test_two_assertions_of_the_same_second_with_different_claims_both_work(api, org) -> None:
    secret, organization_id = org
    moment = utcnow()
    assert exchange(api, assertion(secret, organization_id, moment, nonce="1")).status_code == 200
    assert exchange(api, assertion(secret, organization_id, moment, nonce="2")).status_code == 200


def test_a_refused_exchange_claims_nothing(api, app, org) -> None:
    """A refusal after the claim (here: a deactivated organisation) leaves no claim behind,
    so the same assertion works once the organisation is active again."""
    from app.extensions import db
    from app.identity.models import Family

    secret, organization_id = org
    jwt = assertion(secret, organization_id)
    with app.app_context():
        db.session.get(Family, uuid.UUID(organization_id)).active = False
        db.session.commit()
    refused(exchange(api, jwt), 403, "organization_inactive")
    with app.app_context():
        db.session.get(Family, uuid.UUID(organization_id)).active = True
        db.session.commit()
    assert exchange(api, jwt).status_code == 200


# --- the organisation, its partner, its region ---------------------------------------------------


def test_a_deactivated_organization_is_a_403(api, app, org) -> None:
    from app.extensions import db
    from app.identity.models import Family

    secret, organization_id = org
    with app.app_context():
        db.session.get(Family, uuid.UUID(organization_id)).active = False
        db.session.commit()
    refused(exchange(api, assertion(secret, organization_id)), 403, "organization_inactive")


def test_a_deactivated_partner_tenant_is_a_403(api, app, org, partner_user) -> None:
    from app.extensions import db
    from app.identity.models import Family

    secret, organization_id = org
    with app.app_context():
        db.session.get(Family, partner_user.family_id).active = False
        db.session.commit()
    refused(exchange(api, assertion(secret, organization_id)), 403, "partner_inactive")


def test_a_deactivated_partner_user_is_a_403(api, app, org, partner_user) -> None:
    from app.extensions import db
    from app.identity.models import User

    secret, organization_id = org
    with app.app_context():
        db.session.get(User, partner_user.id).active = False
        db.session.commit()
    refused(exchange(api, assertion(secret, organization_id)), 403, "partner_inactive")


def test_an_organization_of_another_region_is_a_401(api, app, org) -> None:
    """C18: a tenant of another region does not exist here; its exchange is a generic 401
    (a real second region is in test_regions.py)."""
    from app.extensions import db
    from app.identity.models import Family

    secret, organization_id = org
    with app.app_context():
        db.session.get(Family, uuid.UUID(organization_id)).region = "eu"
        db.session.commit()
    body = refused(exchange(api, assertion(secret, organization_id)), 401, "invalid_assertion")
    assert body["message"] == "The SSO assertion is invalid"


# --- the route, and nowhere else --------------------------------------------------------------


@pytest.mark.parametrize("path", ["/organizations/sso", "/api/v1/organizations/sso"])
def test_the_sso_route_is_not_swallowed_by_the_organization_route(api, path: str) -> None:
    """T12 routing: /organizations/sso is the exchange, not /organizations/<id> with id "sso"
    (which would answer the gate's 401 "Access token…" or a 404)."""
    refused(api.get(path), 401, "invalid_assertion")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", ORGANIZATIONS),
        ("GET", "/organizations"),
        ("POST", ORGANIZATIONS),
        ("GET", "/api/v1/tasks"),
        ("GET", "/api/v1/accounts"),
        ("POST", "/api/v1/organizations/sso/revoke"),
        ("GET", "/api/v1/auth/me"),
    ],
)
def test_the_assertion_is_no_credential_anywhere_else(api, org, method: str, path: str) -> None:
    """002.18, T10: the gate has no verifier for a partner assertion: 401 everywhere else."""
    secret, organization_id = org
    jwt = assertion(secret, organization_id)
    response = api.open(path, method=method, headers=bearer(jwt), json={"name": "x"})
    assert response.status_code == 401, (path, response.get_json())
    # And it was not spent by being shown around: the exchange still takes it.
    assert exchange(api, jwt).status_code == 200


def test_the_partners_own_token_is_no_assertion(api, partner: Partner) -> None:
    refused(api.get(SSO, headers=partner.headers), 401, "invalid_assertion")


# --- rotation, auditing, throttling --------------------------------------------------------------


def test_after_rotation_the_old_secret_fails_and_the_new_one_works(
    api, partner: Partner, org
) -> None:
    secret, organization_id = org
    rotated = partner.rotate(organization_id)
    assert rotated.status_code == 200
    new_secret = rotated.get_json()["ssoSecret"]
    refused(exchange(api, assertion(secret, organization_id)), 401, "invalid_assertion")
    assert exchange(api, assertion(new_secret, organization_id)).status_code == 200


def test_refusals_are_audited_without_the_assertion(api, app, org) -> None:
    from app.audit.models import AuditEvent
    from app.extensions import db

    secret, organization_id = org
    bad = assertion(secret + "x", organization_id)
    refused(exchange(api, bad), 401, "invalid_assertion")
    refused(exchange(api, assertion(secret, str(uuid.uuid4()))), 404, "record_not_found")
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.event == "organization.admin_token_issued")
            .order_by(AuditEvent.id)
        ).all()
        assert [(e.outcome, e.details["status"]) for e in events] == [
            ("failure", 401),
            ("failure", 404),
        ]
        assert str(events[0].family_id) == organization_id
        assert events[1].family_id is None
        assert bad not in repr([e.details for e in events])


@pytest.mark.config(RATE_LIMIT_PARTNER_SSO_IP="3 per 15 minutes")
def test_failures_are_throttled_per_client_ip(api, org) -> None:
    secret, organization_id = org
    bad = assertion(secret + "x", organization_id)
    statuses = [exchange(api, bad).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    throttled = exchange(api, assertion(secret, organization_id))
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    # Another client address still gets through.
    other = exchange(
        api, assertion(secret, organization_id), environ_base={"REMOTE_ADDR": "192.0.2.7"}
    )
    assert other.status_code == 200


@pytest.mark.config(RATE_LIMIT_PARTNER_SSO_IP="3 per 15 minutes")
def test_successes_do_not_spend_the_failure_budget(api, org) -> None:
    secret, organization_id = org
    for n in range(5):
        assert exchange(api, assertion(secret, organization_id, nonce=n)).status_code == 200
