"""/api/v1/tags: index/show need ``read``; create/update/destroy need ``read_write`` by name
(Sure's tags controller), so the 403 message names ``read_write``, not ``write``."""

from __future__ import annotations

import re

import pytest

from tests.support.resources import (
    BAD_IDS,
    RAW_GARBAGE,
    ROUTING_GARBAGE,
    UNSTORABLE_TEXT,
    assert_client_error,
    assert_malformed,
    assert_not_server_error,
    assert_refused,
    envelope_garbage,
    field_garbage,
)
from tests.support.sure import (
    BAD_REQUEST,
    NOT_FOUND,
    UNAUTHORIZED,
    assert_error,
    insufficient_scope,
)

FIELDS = ["name", "color"]


@pytest.fixture
def tag(user, make_tag) -> str:
    return make_tag(user.family_id, name="groceries", color="#112233")


def routes(tag: str) -> list[tuple[str, str, dict | None]]:
    return [
        ("GET", "/api/v1/tags", None),
        ("GET", f"/api/v1/tags/{tag}", None),
        ("POST", "/api/v1/tags", {"tag": {"name": "travel"}}),
        ("PATCH", f"/api/v1/tags/{tag}", {"tag": {"name": "food"}}),
        ("PUT", f"/api/v1/tags/{tag}", {"tag": {"color": "#000000"}}),
        ("DELETE", f"/api/v1/tags/{tag}", None),
    ]


# --- authentication and scope ---------------------------------------------------------------


def test_no_credentials_is_401_everywhere(api, tag) -> None:
    for method, path, body in routes(tag):
        response = api.open(path, method=method, json=body)
        assert_error(response, 401, UNAUTHORIZED)
        assert response.headers["WWW-Authenticate"] == (
            'Bearer realm="Tollgate", resource_metadata='
            '"https://auth.tollgate.test/.well-known/oauth-protected-resource"'
        )


@pytest.mark.parametrize("credential", ["ro", "read_bearer"])
def test_read_credentials_cannot_write(request, api, tag, credential) -> None:
    headers = request.getfixturevalue(credential)
    for method, path, body in routes(tag):
        response = api.open(path, method=method, json=body, headers=headers)
        if method == "GET":
            assert response.status_code == 200
            continue
        assert_error(response, 403, insufficient_scope("read_write"))
        assert response.headers["WWW-Authenticate"] == (
            'Bearer realm="Tollgate", error="insufficient_scope", scope="read_write", '
            'resource_metadata="https://auth.tollgate.test/.well-known/oauth-protected-resource"'
        )
    body = api.get("/api/v1/tags", headers=headers).get_json()
    assert [(t["name"], t["color"]) for t in body["tags"]] == [("groceries", "#112233")]


@pytest.mark.parametrize("credential", ["rw", "bearer"])
def test_read_write_credentials_may_read(request, api, tag, credential) -> None:
    headers = request.getfixturevalue(credential)
    assert api.get("/api/v1/tags", headers=headers).status_code == 200
    assert api.get(f"/api/v1/tags/{tag}", headers=headers).status_code == 200


# --- tenancy --------------------------------------------------------------------------------


@pytest.mark.parametrize("credential", ["rw", "bearer"])
def test_another_familys_tag_is_404(request, api, stranger, credential) -> None:
    headers = request.getfixturevalue(credential)
    path = f"/api/v1/tags/{stranger.tag}"
    assert_error(api.get(path, headers=headers), 404, NOT_FOUND)
    assert_error(api.patch(path, headers=headers, json={"tag": {"name": "pwned"}}), 404, NOT_FOUND)
    assert_error(api.put(path, headers=headers, json={"tag": {"color": "#ffffff"}}), 404, NOT_FOUND)
    assert_error(api.delete(path, headers=headers), 404, NOT_FOUND)
    theirs = api.get(path, headers=stranger.headers).get_json()
    assert theirs["name"] == "secret"
    assert theirs["color"] == "#112233"


@pytest.mark.parametrize("credential", ["rw", "bearer"])
def test_list_shows_only_own_tags(request, api, tag, stranger, credential) -> None:
    body = api.get("/api/v1/tags", headers=request.getfixturevalue(credential)).get_json()
    assert [t["id"] for t in body["tags"]] == [tag]
    assert body["pagination"]["total_count"] == 1


def test_names_are_unique_per_family_only(api, rw, tag, stranger) -> None:
    duplicate = api.post("/api/v1/tags", headers=rw, json={"tag": {"name": "groceries"}})
    assert_error(
        duplicate,
        422,
        {
            "error": "validation_failed",
            "message": "Name has already been taken",
            "errors": ["Name has already been taken"],
        },
    )
    # Another family's name is no obstacle (and its existence is not revealed).
    same_as_theirs = api.post("/api/v1/tags", headers=rw, json={"tag": {"name": "secret"}})
    assert same_as_theirs.status_code == 201
    # Renaming onto an existing name is refused too, and changes nothing.
    other = api.post("/api/v1/tags", headers=rw, json={"tag": {"name": "other"}}).get_json()
    renamed = api.patch(
        f"/api/v1/tags/{other['id']}", headers=rw, json={"tag": {"name": "groceries"}}
    )
    assert renamed.status_code == 422
    assert api.get(f"/api/v1/tags/{other['id']}", headers=rw).get_json()["name"] == "other"


@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_malformed_or_unknown_ids_are_404(api, fuzz_headers, bad_id) -> None:
    path = f"/api/v1/tags/{bad_id}"
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        body = {"tag": {"name": "x"}} if method in ("PATCH", "PUT") else None
        assert_error(api.open(path, method=method, json=body, headers=fuzz_headers), 404, NOT_FOUND)


# --- CRUD -----------------------------------------------------------------------------------


@pytest.mark.parametrize("credential", ["rw", "bearer"])
def test_create(request, api, credential) -> None:
    headers = request.getfixturevalue(credential)
    response = api.post(
        "/api/v1/tags", headers=headers, json={"tag": {"name": "Travel", "color": "#A1b2C3"}}
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == {"id", "name", "color", "created_at", "updated_at"}
    assert (body["name"], body["color"]) == ("Travel", "#A1b2C3")
    assert api.get(f"/api/v1/tags/{body['id']}", headers=headers).get_json() == body


def test_create_uses_the_default_color(api, rw) -> None:
    body = api.post("/api/v1/tags", headers=rw, json={"tag": {"name": "plain"}}).get_json()
    assert body["color"] == "#6471eb"


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_update(api, rw, tag, method) -> None:
    response = api.open(
        f"/api/v1/tags/{tag}", method=method, headers=rw, json={"tag": {"color": "#abcdef"}}
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["name"], body["color"]) == ("groceries", "#abcdef")
    assert api.get(f"/api/v1/tags/{tag}", headers=rw).get_json() == body


@pytest.mark.parametrize("credential", ["rw", "bearer"])
def test_destroy(request, api, tag, credential) -> None:
    headers = request.getfixturevalue(credential)
    response = api.delete(f"/api/v1/tags/{tag}", headers=headers)
    assert response.status_code == 200
    assert response.get_json() == {"message": "Tag deleted successfully"}
    assert_error(api.get(f"/api/v1/tags/{tag}", headers=headers), 404, NOT_FOUND)
    assert_error(api.delete(f"/api/v1/tags/{tag}", headers=headers), 404, NOT_FOUND)


def test_destroying_a_tag_untags_its_transactions(
    api, rw, user, account, tag, make_transaction
) -> None:
    txn = make_transaction(user.family_id, account, tag_ids=[tag])
    assert [
        t["id"] for t in api.get(f"/api/v1/transactions/{txn}", headers=rw).get_json()["tags"]
    ] == [tag]
    assert api.delete(f"/api/v1/tags/{tag}", headers=rw).status_code == 200
    shown = api.get(f"/api/v1/transactions/{txn}", headers=rw)
    assert shown.status_code == 200
    assert shown.get_json()["tags"] == []


def test_pagination(api, rw, user, make_tag) -> None:
    for i in range(27):
        make_tag(user.family_id, name=f"tag-{i:02d}")
    first = api.get("/api/v1/tags", headers=rw).get_json()
    assert [t["name"] for t in first["tags"]] == [f"tag-{i:02d}" for i in range(25)]
    assert first["pagination"] == {"page": 1, "per_page": 25, "total_count": 27, "total_pages": 2}
    second = api.get("/api/v1/tags?page=2&per_page=25", headers=rw).get_json()
    assert [t["name"] for t in second["tags"]] == ["tag-25", "tag-26"]
    assert api.get("/api/v1/tags?page=3", headers=rw).get_json()["tags"] == []
    assert api.get("/api/v1/tags?per_page=0", headers=rw).status_code == 422


# --- the browser session (what the explorer's "try it out" uses) ----------------------------


def test_session_reads_and_csrf_protected_writes(signed_in) -> None:
    assert signed_in.get("/api/v1/tags").status_code == 200
    without = signed_in.post("/api/v1/tags", json={"tag": {"name": "no-csrf"}})
    assert without.status_code == 400
    assert without.get_json()["error"] == "invalid_csrf_token"
    page = signed_in.get("/api/docs").get_data(as_text=True)  # the explorer's meta tag
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert match
    token = match.group(1)
    created = signed_in.post(
        "/api/v1/tags", json={"tag": {"name": "with-csrf"}}, headers={"X-CSRFToken": token}
    )
    assert created.status_code == 201, created.get_json()
    names = [t["name"] for t in signed_in.get("/api/v1/tags").get_json()["tags"]]
    assert names == ["with-csrf"]


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT"])
def test_missing_top_level_key_is_400(api, rw, tag, method) -> None:
    path = "/api/v1/tags" if method == "POST" else f"/api/v1/tags/{tag}"
    for kwargs in (
        {"json": {}},
        {},
        {"json": {"tag": "x"}},
        {"json": {"name": "x"}},
        {"json": {"tags": {"name": "x"}}},
        {"data": {"tag[name]": "x"}},
    ):
        assert_error(api.open(path, method=method, headers=rw, **kwargs), 400, BAD_REQUEST)


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, ["name: Missing data for required field."]),
        ({"name": ""}, ["name: Length must be between 1 and 100."]),
        ({"name": "x" * 101}, ["name: Length must be between 1 and 100."]),
        ({"name": None}, ["name: Field may not be null."]),
        ({"name": 5}, ["name: Not a valid string."]),
        ({"name": "ok", "color": "red"}, ["color: must be a hex color like #1a2b3c"]),
        ({"name": "ok", "color": "#12345"}, ["color: must be a hex color like #1a2b3c"]),
        ({"name": "ok", "color": "#1234567"}, ["color: must be a hex color like #1a2b3c"]),
        ({"name": "ok", "unknown_field": 1}, ["unknown_field: Unknown field."]),
        (
            {"name": "ok", "family_id": "00000000-0000-4000-8000-000000000000"},
            ["family_id: Unknown field."],
        ),
    ],
)
def test_invalid_fields_are_422(api, rw, body, errors) -> None:
    response = api.post("/api/v1/tags", headers=rw, json={"tag": body})
    assert_error(
        response,
        422,
        {"error": "validation_failed", "message": "Validation failed", "errors": errors},
    )
    assert api.get("/api/v1/tags", headers=rw).get_json()["tags"] == []


def test_update_cannot_blank_the_name(api, rw, tag) -> None:
    for name in ("", None):
        response = api.patch(f"/api/v1/tags/{tag}", headers=rw, json={"tag": {"name": name}})
        assert response.status_code == 422
    assert api.get(f"/api/v1/tags/{tag}", headers=rw).get_json()["name"] == "groceries"


# --- no 5xx on malformed input --------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT", "DELETE"])
def test_garbage_bodies_never_500(api, fuzz_headers, tag, method) -> None:
    path = "/api/v1/tags" if method == "POST" else f"/api/v1/tags/{tag}"
    for raw in RAW_GARBAGE:
        response = api.open(
            path, method=method, headers=fuzz_headers, data=raw, content_type="application/json"
        )
        if method == "DELETE":
            assert_not_server_error(response, repr(raw[:60]))
            continue
        assert_error(response, 400, BAD_REQUEST)
    if method == "DELETE":
        return
    for body in envelope_garbage("tag"):
        assert_error(
            api.open(path, method=method, headers=fuzz_headers, json=body), 400, BAD_REQUEST
        )
    for body in field_garbage("tag", FIELDS, {"name": "fuzzed", "color": "#010203"}):
        response = api.open(path, method=method, headers=fuzz_headers, json=body)
        assert_not_server_error(response, f"{method} {str(body)[:120]}")
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ):
        response = api.open(
            path,
            method=method,
            headers=fuzz_headers,
            data=b'{"tag": {"name": "x"}}',
            content_type=content_type,
        )
        assert_client_error(response, content_type)


@pytest.mark.parametrize("method", ["PATCH", "PUT", "DELETE"])
def test_garbage_ids_with_garbage_bodies_never_500(api, fuzz_headers, method) -> None:
    for bad_id in BAD_IDS + ROUTING_GARBAGE:
        for raw in (b"", b"{", b"null", b'{"tag": {"name": null}}'):
            response = api.open(
                f"/api/v1/tags/{bad_id}",
                method=method,
                headers=fuzz_headers,
                data=raw,
                content_type="application/json",
            )
            assert_client_error(response, f"{method} {bad_id}")


@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT"])
def test_deeply_nested_json_is_400_not_500(api, fuzz_headers, tag, method) -> None:
    path = "/api/v1/tags" if method == "POST" else f"/api/v1/tags/{tag}"
    for raw in (b"[" * 100_000, b'{"tag": ' * 50_000):
        response = api.open(
            path, method=method, headers=fuzz_headers, data=raw, content_type="application/json"
        )
        assert_malformed(response)


@pytest.mark.parametrize("kind", list(UNSTORABLE_TEXT))
def test_unstorable_name_is_refused_not_500(api, rw, tag, kind) -> None:
    """NUL (PostgreSQL cannot store it) or a lone surrogate (not UTF-8): a 4xx, not a 500."""
    raw = b'{"tag": {"name": "%s"}}' % UNSTORABLE_TEXT[kind]
    assert_refused(api.post("/api/v1/tags", headers=rw, data=raw, content_type="application/json"))
    assert_refused(
        api.patch(f"/api/v1/tags/{tag}", headers=rw, data=raw, content_type="application/json")
    )
    names = [t["name"] for t in api.get("/api/v1/tags", headers=rw).get_json()["tags"]]
    assert names == ["groceries"]
