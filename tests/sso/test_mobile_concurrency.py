"""Single use under real concurrency, on PostgreSQL (READ COMMITTED): one exchange code and 20
simultaneous ``sso_exchange`` calls -> exactly one 200, the others Sure's 401; one linking code
and 10 simultaneous ``sso_link`` / ``sso_create_account`` calls -> one account linked or
created, one token. Never a 5xx."""

from __future__ import annotations

import pytest

from app.identity.models import User
from app.oauth2.models import OAuthToken
from app.sso.models import SsoIdentity
from tests.sso.sure_sso import (
    INVALID_CODE,
    LINKING_CODE_INVALID,
    SSO_CREATE_ACCOUNT,
    SSO_EXCHANGE,
    SSO_LINK,
    code_of,
    count_fixture,  # noqa: F401 - fixture
    link,
    mobile_callback,
    provider_fixture,  # noqa: F401 - fixture
    query,
    upstream,
)
from tests.support.factories import PASSWORD
from tests.support.races import ON_POSTGRES_ONLY, race_requests

pytestmark = [
    *ON_POSTGRES_ONLY,
    pytest.mark.config(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 25, "max_overflow": 0}),
    pytest.mark.usefixtures("provider"),
]


def without_request_parts(body: dict) -> dict:  # type: ignore[type-arg]
    return {k: v for k, v in body.items() if k not in ("code", "correlation_id")}


def test_one_exchange_code_twenty_parallel_exchanges_one_winner(app, make_user, count):
    person = make_user(email="racer@example.com")
    identity = upstream(email=person.email)
    link(app, person, identity)
    code = code_of(mobile_callback(app, identity))
    n = 20

    results = race_requests(app, n, lambda http, i: http.post(SSO_EXCHANGE, json={"code": code}))

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [401] * (n - 1), results
    assert all(
        without_request_parts(body) == INVALID_CODE for status, body in results if status == 401
    )
    assert count(OAuthToken) == 1


def test_one_linking_code_ten_parallel_links_one_link(app, make_user, count):
    bob = make_user(email="bob@bobdylan.com")
    code = query(mobile_callback(app, upstream(subject="racing-link")))["linking_code"]
    n = 10

    results = race_requests(
        app,
        n,
        lambda http, i: http.post(
            SSO_LINK, json={"linking_code": code, "email": bob.email, "password": PASSWORD}
        ),
    )

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [401] * (n - 1), results
    assert all(body == LINKING_CODE_INVALID for status, body in results if status == 401)
    assert count(SsoIdentity) == 1
    assert count(OAuthToken) == 1


def test_one_linking_code_ten_parallel_creations_one_account(app, make_user, count):
    make_user(email="root@example.com", role="super_admin")
    code = query(mobile_callback(app, upstream(subject="racing-new", email="new@example.com")))[
        "linking_code"
    ]
    users_before = count(User)
    n = 10

    results = race_requests(
        app, n, lambda http, i: http.post(SSO_CREATE_ACCOUNT, json={"linking_code": code})
    )

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [401] * (n - 1), results
    assert count(User) == users_before + 1
    assert count(SsoIdentity) == 1
    assert count(OAuthToken) == 1
