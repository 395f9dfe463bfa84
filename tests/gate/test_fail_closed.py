"""If the credential store cannot be reached the answer is 503 — never a 401, never a
fallback to another credential. The database is really unreachable here: a PostgreSQL URL on
a port nothing listens on, and a SQLite file that cannot be opened."""

from __future__ import annotations

import pytest

from app import create_app
from tests.support.config import base_config
from tests.support.http import error_body

UNREACHABLE = [
    "postgresql+psycopg://postgres@127.0.0.1:9/test?connect_timeout=2",
    "sqlite:////nonexistent-dir/for/tollgate.sqlite3",
]


@pytest.fixture(params=UNREACHABLE, ids=["postgresql-stopped-port", "sqlite-unopenable"])
def down_client(request, instance_dir):
    app = create_app(base_config(request.param, instance_dir))
    return app.test_client()


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer tga_" + "a" * 43},
        {"X-Api-Key": "tgk_" + "b" * 43},
        {"Authorization": "Bearer tga_" + "a" * 43, "X-Api-Key": "tgk_" + "b" * 43},
    ],
    ids=["bearer", "api-key", "both"],
)
def test_store_down_is_503_not_401(down_client, headers) -> None:
    response = down_client.get("/api/v1/accounts", headers={**headers, "X-Correlation-ID": "c-1"})
    assert response.status_code == 503
    assert error_body(response) == {
        "error": "service_unavailable",
        "message": "The service is temporarily unavailable. Try again later.",
    }
    assert response.headers["Retry-After"] == "5"
    assert response.headers["X-Correlation-ID"] == "c-1"


def test_store_down_at_token_endpoint_is_503(down_client) -> None:
    response = down_client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
    )
    assert response.status_code == 503
    assert response.get_json()["error"] == "service_unavailable"
    assert response.headers["Cache-Control"] == "no-store"
