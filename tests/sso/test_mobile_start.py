"""``GET /auth/mobile/<provider>`` (contract §2.6 step 1, §7.10): unknown providers and missing
device fields go back to the app as Sure's redirects; otherwise the device is kept in the
session and an auto-submitting POST form (with its CSRF token) starts the provider's sign-in."""

from __future__ import annotations

import re

import pytest

from tests.sso.sure_sso import provider_fixture  # noqa: F401 - fixture
from tests.support.sure import DEVICE, device
from tests.support.web import csrf_from

pytestmark = pytest.mark.usefixtures("provider")


def start(client, provider: str = "idp", **params):  # type: ignore[no-untyped-def]
    return client.get(f"/auth/mobile/{provider}", query_string=params)


def test_start_renders_an_auto_submitting_post_form_with_a_csrf_token(client):
    response = start(client, **DEVICE)

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert re.search(r'<form method="post" action="/auth/idp" id="sso-start">', html)
    assert csrf_from(html)
    script = re.search(r'<script src="([^"]+)"></script>', html)
    assert script
    served = client.get(script.group(1))
    assert served.status_code == 200
    assert b'getElementById("sso-start").submit()' in served.data
    # The page's CSP forbids inline scripts: the form is submitted by a script of this origin.
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_start_keeps_the_five_device_fields_in_the_session(client):
    start(client, **DEVICE)

    with client.session_transaction() as session:
        assert session["sso_flow"] == "mobile"
        assert session["sso_device"] == DEVICE
        assert "sso_code_challenge" not in session


def test_the_form_posts_to_the_providers_start_which_accepts_its_csrf_token(client):
    """sso-core's POST /auth/<provider> takes the form as rendered (a forged one is refused);
    the provider here is unreachable (a reserved .test name), so the mobile flow's failure
    goes back to the app, sanitised."""
    html = start(client, **DEVICE).get_data(as_text=True)

    forged = client.post("/auth/idp", data={"csrf_token": "forged"})
    response = client.post("/auth/idp", data={"csrf_token": csrf_from(html)})

    assert forged.status_code == 400
    assert response.status_code == 302
    assert response.headers["Location"] == (
        "sureapp://oauth/callback?error=sso_provider_unavailable"
        "&message=Single+sign-on+authentication+failed.+Please+try+again."
    )


def test_unknown_provider_redirects_to_the_app(client):
    response = start(client, "nope", **DEVICE)

    assert response.status_code == 302
    assert response.headers["Location"] == (
        "sureapp://oauth/callback?error=invalid_provider&message=SSO+provider+not+configured"
    )
    with client.session_transaction() as session:
        assert "sso_flow" not in session


@pytest.mark.parametrize("missing", ["device_id", "device_name", "device_type"])
@pytest.mark.parametrize("how", ["absent", "blank", "oversized"])
def test_missing_device_info_redirects_to_the_app(client, missing, how):
    value = {"absent": None, "blank": "  ", "oversized": "x" * 256}[how]
    params = device(**{missing: value})

    response = start(client, **params)

    assert response.status_code == 302
    assert response.headers["Location"] == (
        "sureapp://oauth/callback?error=missing_device_info&message=Device+information+is+required"
    )
    with client.session_transaction() as session:
        assert "sso_device" not in session


def test_os_and_app_versions_are_optional(client):
    response = start(client, **device(os_version=None, app_version=None))

    assert response.status_code == 200
    with client.session_transaction() as session:
        assert session["sso_device"] == {
            **device(os_version=None, app_version=None),
            "os_version": None,
            "app_version": None,
        }


def test_a_desktop_start_then_a_mobile_start_leaves_only_the_mobile_flow(client):
    client.get("/auth/desktop/idp", query_string={"code_challenge": "A" * 43})
    start(client, **DEVICE)

    with client.session_transaction() as session:
        assert session["sso_flow"] == "mobile"
        assert "sso_code_challenge" not in session
