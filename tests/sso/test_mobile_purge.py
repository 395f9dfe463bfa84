"""``flask tokens purge`` deletes SSO codes past their expiry (consumed or not) and keeps live
ones, in batches, like every other expiring credential."""

from __future__ import annotations

import json

import pytest

from tests.sso.sure_sso import (
    SSO_EXCHANGE,
    code_of,
    link,
    minutes_ago,
    mobile_callback,
    provider_fixture,  # noqa: F401 - fixture
    query,
    stored_codes,
    upstream,
)

pytestmark = pytest.mark.usefixtures("provider")


def run(app, *args: str):  # type: ignore[no-untyped-def]
    return app.test_cli_runner().invoke(args=list(args))


def test_tokens_purge_deletes_expired_sso_codes_and_keeps_live_ones(app, client, make_user):
    person = make_user(email="purged@example.com")
    identity = upstream(email=person.email)
    link(app, person, identity)
    code_of(mobile_callback(app, identity, now=minutes_ago(6)))  # expired, never used
    used = code_of(mobile_callback(app, identity, now=minutes_ago(4)))
    assert client.post(SSO_EXCHANGE, json={"code": used}).status_code == 200
    query(mobile_callback(app, upstream(subject="other"), now=minutes_ago(11)))  # expired link
    live = code_of(mobile_callback(app, identity))

    result = run(app, "tokens", "purge", "--batch-size", "1")

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["purged"]["sso_codes"] == 2
    left = stored_codes(app)
    assert len(left) == 2  # the used one until it expires (its payload wiped), and the live one
    assert sorted(bool(row["payload_encrypted"]) for row in left) == [False, True]
    assert client.post(SSO_EXCHANGE, json={"code": live}).status_code == 200
