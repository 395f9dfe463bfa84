"""Redirect URI rules as functions (``app/oauth2/redirects.py``): validation at registration,
matching at use.

The HTTP tests prove these rules where a client meets them (test_authorize.py: exact matching
and the loopback exception; test_discovery_and_registration.py: what dynamic registration
refuses). Here are the rules no HTTP test reaches: what an *operator* may register (the
forbidden schemes are then the only guard), malformed input that never gets that far, and the
corners of loopback matching.
"""

from __future__ import annotations

import pytest

from app.oauth2.redirects import InvalidRedirectURI, redirect_uri_matches, validate_redirect_uri

# --- validation: what an operator may register -------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("https://client.example/cb", id="https"),
        pytest.param("http://client.example/cb", id="http-any-host"),
        pytest.param("sureapp://oauth/callback", id="private-use-scheme"),
        pytest.param("com.example.app:/oauth2redirect", id="reverse-domain-scheme"),
        pytest.param("https://client.example/cb?tenant=7", id="query"),
        pytest.param("http://127.0.0.1:8080/cb", id="loopback-with-port"),
    ],
)
def test_an_operator_may_register_it_and_it_is_stored_unchanged(uri: str) -> None:
    assert validate_redirect_uri(uri) == uri


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("http://client.example/cb", id="http-any-host"),
        pytest.param("sureapp://oauth/callback", id="private-use-scheme"),
    ],
)
def test_dynamic_registration_is_narrower_than_an_operator(uri: str) -> None:
    assert validate_redirect_uri(uri, dynamic=False) == uri
    with pytest.raises(InvalidRedirectURI, match="must use https or loopback http"):
        validate_redirect_uri(uri, dynamic=True)


@pytest.mark.parametrize(
    "uri, scheme",
    [
        pytest.param("javascript:alert(1)", "javascript", id="javascript"),
        pytest.param("JavaScript:alert(1)", "javascript", id="javascript-mixed-case"),
        pytest.param("data:text/html,<b>x</b>", "data", id="data"),
        pytest.param("vbscript:msgbox(1)", "vbscript", id="vbscript"),
        pytest.param("file:///etc/passwd", "file", id="file"),
        pytest.param("blob:https://client.example/0b8e", "blob", id="blob"),
        pytest.param("about:blank", "about", id="about"),
    ],
)
def test_script_and_local_schemes_are_refused_even_for_an_operator(uri: str, scheme: str) -> None:
    with pytest.raises(InvalidRedirectURI, match=f"the {scheme}: scheme is not allowed"):
        validate_redirect_uri(uri, dynamic=False)


SPACES = "must not contain spaces or wildcards"


@pytest.mark.parametrize(
    "uri, message",
    [
        pytest.param("", "must be non-empty strings", id="empty"),
        pytest.param("   ", "must be non-empty strings", id="blank"),
        pytest.param(" https://client.example/cb", "must be non-empty strings", id="leading-space"),
        pytest.param(
            "https://client.example/cb\n", "must be non-empty strings", id="trailing-newline"
        ),
        pytest.param("https://client.example/c b", SPACES, id="inner-space"),
        pytest.param("https://client.example/c\tb", SPACES, id="tab"),
        pytest.param("https://client.example/c\x01b", SPACES, id="control-character"),
        pytest.param("https://*.client.example/cb", SPACES, id="wildcard"),
        pytest.param("https://client.example:99999/cb", "not a valid URI", id="port-out-of-range"),
        pytest.param("https://client.example:https/cb", "not a valid URI", id="port-not-a-number"),
        pytest.param("client.example/cb", "must be absolute", id="no-scheme"),
        pytest.param(
            "https://client.example/cb#", "must not contain a fragment", id="empty-fragment"
        ),
        pytest.param("myapp://cb#x", "must not contain a fragment", id="fragment-on-custom-scheme"),
        pytest.param(
            "myapp://user@cb", "must not contain user information", id="userinfo-on-custom-scheme"
        ),
        pytest.param("http:/cb", "must name a host", id="http-without-host"),
        pytest.param("myapp:", "not a valid URI", id="scheme-only"),
    ],
)
def test_malformed_uris_are_refused_with_a_reason(uri: str, message: str) -> None:
    with pytest.raises(InvalidRedirectURI, match=message):
        validate_redirect_uri(uri)


# --- matching ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "https://client.example/cb",
        "sureapp://oauth/callback",
        "http://127.0.0.1:8080/cb",
    ],
)
def test_an_identical_uri_matches_for_every_kind_of_client(uri: str) -> None:
    assert redirect_uri_matches(uri, uri, public=False)
    assert redirect_uri_matches(uri, uri, public=True)


def test_matching_is_for_confidential_clients_unless_told_otherwise() -> None:
    """The any-port exception is opt-in: a caller that forgets ``public`` gets exact matching."""
    registered = "http://127.0.0.1/cb"
    assert not redirect_uri_matches("http://127.0.0.1:5000/cb", registered)
    assert redirect_uri_matches("http://127.0.0.1:5000/cb", registered, public=True)


@pytest.mark.parametrize(
    "presented, registered",
    [
        pytest.param("http://127.0.0.1:9090/cb", "http://127.0.0.1:8080/cb", id="port-to-port"),
        pytest.param("http://127.0.0.1:9090/cb?x=1", "http://127.0.0.1/cb?x=1", id="same-query"),
        pytest.param("http://[::1]/cb", "http://[::1]:8080/cb", id="ipv6-port-dropped"),
    ],
)
def test_a_public_client_on_a_loopback_literal_may_change_only_the_port(
    presented: str, registered: str
) -> None:
    assert redirect_uri_matches(presented, registered, public=True)


@pytest.mark.parametrize(
    "presented, registered",
    [
        pytest.param("http://127.0.0.1:9090/cb?x=2", "http://127.0.0.1/cb?x=1", id="other-query"),
        pytest.param("http://[::1]:9090/cb", "http://127.0.0.1/cb", id="ipv6-for-ipv4"),
        pytest.param("http://127.0.0.1:99999/cb", "http://127.0.0.1/cb", id="port-out-of-range"),
        pytest.param("http://127.0.0.1:9090/cb", "https://127.0.0.1/cb", id="registered-https"),
        pytest.param("http://127.0.0.1:9090/CB", "http://127.0.0.1/cb", id="path-case"),
    ],
)
def test_a_public_client_on_a_loopback_literal_may_change_nothing_else(
    presented: str, registered: str
) -> None:
    assert not redirect_uri_matches(presented, registered, public=True)
