"""The scope algebra (app/scopes.py): ``read_write`` includes ``read``, scope strings are
parsed and normalised one way, and nothing outside the supported set is granted."""

from __future__ import annotations

import pytest

from app import scopes


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (None, []),
        ("", []),
        ("read", ["read"]),
        ("  read   read_write ", ["read", "read_write"]),
        ("read_write read read_write", ["read_write", "read"]),  # first mention keeps its place
        (["read", "read"], ["read"]),
        (("read_write",), ["read_write"]),
    ],
)
def test_to_list_splits_on_whitespace_and_drops_repeats(scope, expected) -> None:
    assert scopes.to_list(scope) == expected


def test_to_string_joins_with_one_space_without_repeats() -> None:
    assert scopes.to_string(["read_write", "read", "read_write"]) == "read_write read"


@pytest.mark.parametrize(
    ("granted", "required", "expected"),
    [
        ("read", "read", True),
        ("read_write", "read", True),
        ("read", "write", False),
        ("read_write", "write", True),
        ("write", "write", False),  # a bare "write" is not a scope this server grants
        ("read_write", "read_write", True),
        ("read", "read_write", False),
        ("admin", "admin", True),  # any other name is satisfied only by itself
        ("read_write", "admin", False),
        (None, "read", False),
        ("", "read", False),
    ],
)
def test_satisfies(granted, required, expected) -> None:
    assert scopes.satisfies(granted, required) is expected


@pytest.mark.parametrize(
    ("granted", "requested", "expected"),
    [
        ("read_write", "read", True),
        ("read_write", "read read_write", True),
        ("read", "read_write", False),
        ("read", "read", True),
        ("read", "read unknown", False),
        ("read", "", True),  # asking for nothing asks for nothing more
    ],
)
def test_includes(granted, requested, expected) -> None:
    assert scopes.includes(granted, requested) is expected


@pytest.mark.config(OAUTH2_SCOPES_SUPPORTED=["read", "read_write"], OAUTH2_DEFAULT_SCOPE="read")
@pytest.mark.parametrize(
    ("requested", "client_scope", "expected"),
    [
        ("read", "read read_write", "read"),
        ("read read", "read_write", "read"),  # read_write covers read; repeats are dropped
        ("read_write", "read", None),  # more than the client was registered for
        ("read unknown", "read read_write unknown", None),  # not a scope this server supports
        (None, "read read_write", "read"),  # nothing asked: the configured default
        (None, "read_write", "read_write"),  # Sure's rule for clients registered for read_write
        (None, "read_write read", "read"),
        ("", "read_write", "read_write"),
    ],
)
def test_allowed_for_client(app, requested, client_scope, expected) -> None:
    with app.app_context():
        assert scopes.allowed_for_client(requested, client_scope) == expected
