"""The resource API's test inputs: ids that are not ours, malformed bodies by the hundred, the
answers they may get, and the other family whose records must stay out of reach."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from werkzeug.test import TestResponse

from tests.support.factories import UserInfo

MISSING_UUID = "00000000-0000-4000-8000-000000000000"


@dataclass
class Stranger:
    """A user of another family, with one record of every kind and a read_write key."""

    user: UserInfo
    headers: dict[str, str]
    account: str
    tag: str
    transaction: str
    valuation: str


# --- malformed input -----------------------------------------------------------------------

# Values of the wrong type (or out of range) for any field.
WRONG_VALUES: list[Any] = [
    None,
    0,
    -1,
    1.5,
    2**70,
    -(2**70),
    True,
    False,
    [],
    {},
    [None],
    [[]],
    {"a": None},
    {"nested": {"deep": [None, {"x": None}]}},
    "",
    " ",
    "x" * 100_000,
    "not-a-uuid",
    "2026-02-30",
    "2026-13-01",
    "01/02/2026",
    "NaN",
    "-Infinity",
    "1e30",
    "0x10",
    "1,5",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "\u202eevil",
    "😀" * 300,
]

# Bodies sent with Content-Type: application/json that are not a usable JSON object.
RAW_GARBAGE: list[bytes] = [
    b"",
    b" ",
    b"{",
    b"[",
    b"}",
    b"]",
    b"null",
    b"true",
    b"0",
    b"-1",
    b'"x"',
    b"NaN",
    b"Infinity",
    b"[]",
    b"{}",
    b"{'single': 'quotes'}",
    b'{"a": }',
    b'{"a" 1}',
    b"\xff\xfe\xfd",
    b"\x00",
    b"\x00" * 100,
    b"\xef\xbb\xbf{}",
    b'{"a": 1' + b"0" * 5000 + b"}",
    b"x" * 200_000,
]

# Paths' ids that are not UUIDs (or not ours).
BAD_IDS: list[str] = [
    "not-a-uuid",
    "1",
    "0",
    "-1",
    "null",
    "%ff",
    "'%20OR%201=1",
    "%2e%2e",
    "a" * 1000,
    MISSING_UUID,
    "{" + MISSING_UUID + "}",
    MISSING_UUID.replace("-", ""),
    MISSING_UUID + "0",
]

# Ids that may not even reach the view (the router or the input guard answers): any 4xx.
ROUTING_GARBAGE: list[str] = ["..%2f..%2fetc", "a/b", "%2f", "", "%00", "a%00b"]

# Text that no database column can store (PostgreSQL refuses NUL; UTF-8 refuses lone
# surrogates, which JSON's \\uXXXX escapes can still produce).
UNSTORABLE_TEXT: dict[str, bytes] = {"nul": b"a\\u0000b", "lone-surrogate": b"a\\ud800b"}


def envelope_garbage(key: str) -> list[Any]:
    """JSON documents that do not carry ``{key: {...}}``: Sure's ``params.require`` -> 400."""
    return [
        [],
        [{key: {}}],
        {key: None},
        {key: []},
        {key: [{}]},
        {key: "x"},
        {key: 1},
        {key: True},
        {key: 1.5},
        {"other": {}},
        {key.upper(): {"name": "x"}},
        {f" {key}": {"name": "x"}},
        {"data": {key: {"name": "x"}}},
    ]


def field_garbage(key: str, fields: list[str], valid: dict[str, Any]) -> list[dict[str, Any]]:
    """``{key: {...}}`` with every field in turn given every wrong value, plus unknown and
    nested-null fields."""
    bodies: list[dict[str, Any]] = [
        {key: {}},
        {key: {"": None}},
        {key: {"unknown_field": 1}},
        {key: {**valid, "unknown_field": "x"}},
        {key: {**valid, "id": MISSING_UUID}},
        {key: {**valid, "family_id": MISSING_UUID}},
        {key: {"nested": {"deep": [None]}}},
        {key: {f: None for f in fields}},
        {key: {f: {} for f in fields}},
    ]
    for name in fields:
        for value in WRONG_VALUES:
            bodies.append({key: {**valid, name: value}})
    return bodies


# --- what malformed input may get back ---------------------------------------------------------


def assert_client_error(response: TestResponse, what: str) -> None:
    """A 4xx with the JSON error envelope; never a 5xx."""
    assert 400 <= response.status_code < 500, (
        f"{what} -> {response.status_code}: {response.get_data(as_text=True)[:300]}"
    )
    body = response.get_json(silent=True)
    assert isinstance(body, dict) and isinstance(body.get("error"), str), what


def assert_malformed(response: TestResponse) -> None:
    """A body that cannot be used as JSON: Sure's 400 ``bad_request`` (the message may say
    why)."""
    assert response.status_code == 400, (
        response.status_code,
        response.get_data(as_text=True)[:300],
    )
    assert response.get_json()["error"] == "bad_request"


def assert_refused(response: TestResponse) -> None:
    """Input refused as the caller's error: 400 ``bad_request`` or 422 ``validation_failed``."""
    assert response.status_code in (400, 422), (
        response.status_code,
        response.get_data(as_text=True)[:300],
    )
    assert response.get_json()["error"] in ("bad_request", "validation_failed")


def assert_not_server_error(response: TestResponse, what: str) -> None:
    """Valid-but-odd input may succeed; it must never be a 5xx."""
    assert response.status_code < 500, (
        f"{what} -> {response.status_code}: {response.get_data(as_text=True)[:300]}"
    )
    if response.status_code >= 400:
        assert_client_error(response, what)
