"""Correlation ids (app/gate/correlation.py): the offered id must match whole to be used."""

from __future__ import annotations

import uuid

import pytest


@pytest.mark.parametrize("offered", ["abc\n", "abc\r\n", "abc\nX-Injected: 1", "\nabc"])
def test_correlation_id_with_a_newline_is_replaced(client, offered) -> None:
    """A ``$`` anchor accepts a trailing newline; the id goes into logs and audit rows, so a
    value is used only if it matches completely. (The test client refuses a newline in a
    header, so it goes straight into the WSGI environment, as a lax server could pass it.)"""
    response = client.get("/login", environ_overrides={"HTTP_X_CORRELATION_ID": offered})
    echoed = response.headers["X-Correlation-ID"]
    assert echoed != offered.strip()
    assert str(uuid.UUID(echoed)) == echoed


def test_well_formed_correlation_id_is_still_echoed(client) -> None:
    response = client.get("/login", environ_overrides={"HTTP_X_CORRELATION_ID": "abc"})
    assert response.headers["X-Correlation-ID"] == "abc"
