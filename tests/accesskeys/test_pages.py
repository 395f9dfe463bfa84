"""The access-key pages through the Flask test client: Global Admins only (403 page for anyone
else, sign-in for visitors), CSRF on every form, the list's columns, the JWT shown once,
editing roles and removing behind a confirmation step. Chromium drives the same pages in
tests/e2e/test_access_keys_page.py."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.accesskeys import CLOUD_ACCOUNTS, bearer, listed_ids
from tests.support.factories import grant_role as grant
from tests.support.web import csrf_from, login

PAGES = "/access_keys"
JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


@pytest.fixture
def browser(app, admin) -> FlaskClient:  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert login(client, admin.email, admin.password).status_code == 302
    return client


def _form(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    return csrf_from(page.get_data(as_text=True))


def _add(client: FlaskClient, **fields: Any) -> TestResponse:
    data: dict[str, Any] = {"csrf_token": _form(client, f"{PAGES}/new"), **fields}
    return client.post(f"{PAGES}/new", data=data)


def _token(response: TestResponse) -> str:
    found = JWT.findall(response.get_data(as_text=True))
    assert len(found) == 1, found
    return found[0]


def _key_ids(client: FlaskClient) -> list[str]:
    return re.findall(r'data-key-id="([^"]+)"', client.get(PAGES).get_data(as_text=True))


# --- who may see the pages ---------------------------------------------------------------


def test_visitors_are_sent_to_sign_in(client) -> None:
    response = client.get(PAGES)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/access_keys")


@pytest.mark.parametrize(
    ("base_role", "granted"),
    [("member", None), ("admin", None), ("super_admin", None), ("member", "global_viewer")],
)
def test_anyone_but_a_global_admin_gets_a_403_page(
    app, make_user, base_role, granted, manager
) -> None:
    key_id = manager.issue([{"role": "global_viewer"}])["id"]
    someone = make_user(role=base_role, family_id=manager.user.family_id)
    if granted:
        grant(app, someone, granted)
    client = app.test_client()
    assert login(client, someone.email, someone.password).status_code == 302
    for path in (PAGES, f"{PAGES}/new", f"{PAGES}/{key_id}/edit", f"{PAGES}/{key_id}/remove"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert response.mimetype == "text/html"
        assert "Only Global Admins can manage API access keys." in response.get_data(as_text=True)
    assert "API access keys" not in client.get("/").get_data(as_text=True)


def test_the_pages_take_no_bearer_credential(manager, api) -> None:
    """A page is for the browser session only: an access key (even a Global Admin's) does not
    sign anyone in."""
    token = manager.issue([{"role": "global_admin"}])["token"]
    response = api.get(PAGES, headers=bearer(token))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_the_home_page_links_to_the_keys_for_global_admins(browser) -> None:
    home = browser.get("/").get_data(as_text=True)
    assert 'href="/access_keys">API access keys</a>' in home


# --- the list ------------------------------------------------------------------------------


def test_the_list_shows_name_roles_created_and_expiration(
    browser, manager, make_cloud_account
) -> None:
    empty = browser.get(PAGES).get_data(as_text=True)
    assert "No access keys yet." in empty
    account = make_cloud_account(manager.user.family_id, "Prod AWS")
    key = manager.issue(
        [{"role": "global_viewer"}, {"role": "cloud_account_viewer", "accounts": [account]}],
        name="Reporting",
        expiration="1m",
    )
    page = browser.get(PAGES)
    assert page.status_code == 200
    assert "no-store" in page.headers["Cache-Control"]
    html = page.get_data(as_text=True)
    for column in ("Name", "Role(s)", "Created", "Expiration Date"):
        assert f'<th scope="col">{column}</th>' in html
    assert "Reporting" in html
    assert "Global Viewer" in html and "Cloud Account Viewer:" in html and "Prod AWS" in html
    created, expires = key["created_at"], key["expires_at"]
    assert f'datetime="{created}"' in html and f'datetime="{expires}"' in html
    assert f"{expires[:10]} {expires[11:16]} UTC" in html
    assert key["token"] not in html
    assert 'aria-label="Edit access key Reporting"' in html
    assert 'aria-label="Remove access key Reporting"' in html


# --- adding a key ----------------------------------------------------------------------------


def test_the_add_form_is_labelled_and_protected(browser) -> None:
    html = browser.get(f"{PAGES}/new").get_data(as_text=True)
    assert 'name="csrf_token"' in html
    assert '<label for="name">Name</label>' in html
    assert '<label for="custom_days">' in html
    for value in ("1m", "3m", "6m", "12m", "custom"):
        assert f'name="expiration" value="{value}"' in html
    assert 'name="expiration" value="6m"\n      checked' in html  # the default
    for role in ("global_admin", "global_viewer", "cloud_account_viewer"):
        assert f'name="roles" value="{role}"' in html
    assert "<legend>Roles" in html and "<legend>Expiration</legend>" in html


def test_a_form_without_its_csrf_token_is_refused(browser) -> None:
    response = browser.post(f"{PAGES}/new", data={"name": "x", "roles": "global_admin"})
    assert response.status_code == 400
    assert "did not come from this site" in response.get_data(as_text=True) or (
        "form expired" in response.get_data(as_text=True)
    )
    assert _key_ids(browser) == []


def test_adding_a_key_shows_its_jwt_once(browser, api, make_cloud_account, admin) -> None:
    account = make_cloud_account(admin.family_id, "Prod")
    response = _add(browser, name="Pipeline", expiration="3m", roles=["global_viewer"])
    assert response.status_code == 201, response.get_data(as_text=True)
    assert "no-store" in response.headers["Cache-Control"]
    html = response.get_data(as_text=True)
    token = _token(response)
    assert 'data-copy="access-key-token"' in html and 'data-copy="access-key-name"' in html
    assert 'src="/static/copy-buttons.js"' in html
    assert "<script>" not in html  # CSP: no inline scripts

    # The JWT works at once, and is never shown again.
    assert listed_ids(api.get(CLOUD_ACCOUNTS, headers=bearer(token))) == [account]
    key_ids = _key_ids(browser)
    assert len(key_ids) == 1
    for path in (PAGES, f"{PAGES}/{key_ids[0]}/edit", f"{PAGES}/{key_ids[0]}/remove", "/"):
        assert token not in browser.get(path).get_data(as_text=True), path


def test_a_custom_expiry_and_an_account_selection(browser, api, make_cloud_account, admin):
    chosen = make_cloud_account(admin.family_id, "Chosen")
    make_cloud_account(admin.family_id, "Other")
    response = _add(
        browser,
        name="Auditor",
        expiration="custom",
        custom_days="45",
        roles=["cloud_account_viewer"],
        selection="selected",
        accounts=[chosen],
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    token = _token(response)
    assert listed_ids(api.get(CLOUD_ACCOUNTS, headers=bearer(token))) == [chosen]
    assert "Cloud Account Viewer:\n    Chosen" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "", "roles": ["global_viewer"]}, "Name can&#39;t be blank"),
        ({"name": "no role"}, "Assign at least one role"),
        (
            {"name": "cav", "roles": ["cloud_account_viewer"]},
            "Cloud Account Viewer needs All accounts or at least one account",
        ),
        (
            {"name": "days", "roles": ["global_viewer"], "expiration": "custom", "custom_days": ""},
            "custom_days must be a whole number of days from 1 to 730",
        ),
        (
            {
                "name": "days",
                "roles": ["global_viewer"],
                "expiration": "custom",
                "custom_days": "0",
            },
            "custom_days must be from 1 to 730",
        ),
    ],
)
def test_a_refused_form_says_why_and_keeps_the_input(browser, fields, message) -> None:
    response = _add(browser, **fields)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'role="alert"' in html and message in html
    if fields["name"]:
        assert f'value="{fields["name"]}"' in html
    assert _key_ids(browser) == []


def test_a_taken_name_is_409_on_the_page(browser) -> None:
    assert _add(browser, name="Same", roles=["global_viewer"]).status_code == 201
    response = _add(browser, name="Same", roles=["global_admin"])
    assert response.status_code == 409
    assert "Name has already been taken" in response.get_data(as_text=True)


# --- editing and removing ----------------------------------------------------------------


def test_editing_roles_on_the_page(browser, api, make_cloud_account, admin) -> None:
    a, b = make_cloud_account(admin.family_id, "A"), make_cloud_account(admin.family_id, "B")
    token = _token(
        _add(
            browser,
            name="Edited",
            roles=["cloud_account_viewer"],
            selection="selected",
            accounts=[a],
        )
    )
    (key_id,) = _key_ids(browser)
    form = browser.get(f"{PAGES}/{key_id}/edit").get_data(as_text=True)
    assert "Edited" in form and "cannot be changed" in form
    assert 'name="name"' not in form  # the name is shown, never editable
    assert re.search(rf'value="{a}"\s+checked', form)

    refused = browser.post(
        f"{PAGES}/{key_id}/edit", data={"csrf_token": csrf_from(form), "roles": []}
    )
    assert refused.status_code == 422
    assert "Assign at least one role" in refused.get_data(as_text=True)

    response = browser.post(
        f"{PAGES}/{key_id}/edit",
        data={
            "csrf_token": csrf_from(form),
            "roles": ["cloud_account_viewer"],
            "selection": "selected",
            "accounts": [b],
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"] == PAGES
    listing = browser.get(PAGES).get_data(as_text=True)
    assert "Access key &#34;Edited&#34; updated." in listing
    assert listed_ids(api.get(CLOUD_ACCOUNTS, headers=bearer(token))) == [b]


def test_removing_asks_first_then_the_jwt_stops_working(browser, api) -> None:
    token = _token(_add(browser, name="Doomed", roles=["global_viewer"]))
    (key_id,) = _key_ids(browser)
    confirm = browser.get(f"{PAGES}/{key_id}/remove")
    html = confirm.get_data(as_text=True)
    assert "Doomed" in html and "cannot be undone" in html
    # Looking at the confirmation changes nothing.
    assert api.get(CLOUD_ACCOUNTS, headers=bearer(token)).status_code == 200

    assert browser.post(f"{PAGES}/{key_id}/remove").status_code == 400  # no CSRF token
    assert api.get(CLOUD_ACCOUNTS, headers=bearer(token)).status_code == 200

    response = browser.post(f"{PAGES}/{key_id}/remove", data={"csrf_token": csrf_from(html)})
    assert response.status_code == 303
    listing = browser.get(PAGES).get_data(as_text=True)
    assert "Access key &#34;Doomed&#34; removed. Its JWT no longer works." in listing
    assert "data-key-id" not in listing
    assert api.get(CLOUD_ACCOUNTS, headers=bearer(token)).status_code == 401
    assert browser.get(f"{PAGES}/{key_id}/remove").status_code == 404


def test_another_tenants_key_is_404_on_the_pages(browser, make_user, as_manager, app) -> None:
    stranger = make_user(email="bob@other.example")
    grant(app, stranger, "global_admin")
    theirs = as_manager(stranger).issue([{"role": "global_viewer"}])["id"]
    for path in (f"{PAGES}/{theirs}/edit", f"{PAGES}/{theirs}/remove", f"{PAGES}/nope/edit"):
        assert browser.get(path).status_code == 404, path
    csrf = _form(browser, f"{PAGES}/new")
    response = browser.post(f"{PAGES}/{theirs}/remove", data={"csrf_token": csrf})
    assert response.status_code == 404
    assert [k["id"] for k in as_manager(stranger).list().get_json()] == [theirs]
