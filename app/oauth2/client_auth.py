"""Client authentication at the token, revocation and introspection endpoints (RFC 6749
§2.3): the methods Authlib calls, registered once by ``oauth2.server``."""

from __future__ import annotations

from collections.abc import Callable

from authlib.oauth2 import OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from werkzeug.datastructures import Headers

from app import crypto
from app.gate.bearer import basic_challenge
from app.oauth2.models import OAuthClient
from app.oauth2.services import clients

CONFIDENTIAL_AUTH = ["client_secret_basic", "client_secret_post"]
ANY_CLIENT_AUTH = [*CONFIDENTIAL_AUTH, "none"]

# What Authlib hands every authentication method: the server's client lookup.
QueryClient = Callable[[str], OAuthClient | None]


class ClientAuthenticationFailed(InvalidClientError):
    """invalid_client, always 401 with a Basic challenge naming the realm (RFC 7617 §2;
    RFC 9110 §15.5.2: every 401 carries a challenge), whatever method the client tried.
    Authlib's own challenge has no realm, and its description is a Python list repr."""

    status_code = 401

    def __init__(self, description: str = "Client authentication failed.") -> None:
        super().__init__(description=description, status_code=401)

    def get_headers(self) -> list[tuple[str, str]]:
        headers = [h for h in OAuth2Error.get_headers(self) if h[0] != "WWW-Authenticate"]
        challenge = basic_challenge(
            f'error="{self.error}"', f'error_description="{self.get_error_description()}"'
        )
        return [*headers, ("WWW-Authenticate", challenge)]


def _secret_client(client_id: str | None, secret: str | None) -> OAuthClient | None:
    """Find a confidential client and verify its secret in constant time; an unknown client
    still costs a digest and a comparison, so timing does not tell which part was wrong."""
    client = clients.get_client(client_id)
    stored = client.client_secret_digest if client is not None else None
    if not crypto.verify_digest(secret, stored):
        return None
    return client


def _basic_credentials(headers: Headers) -> tuple[str | None, str | None]:
    """Authlib's Basic parser, with malformed credentials (not UTF-8, nothing after "Basic",
    a NUL in the client id) as the client's error rather than a 500."""
    try:
        client_id, secret = extract_basic_authorization(headers)
    except ValueError as exc:  # UnicodeDecodeError included
        raise ClientAuthenticationFailed("Malformed Basic credentials.") from exc
    if client_id and "\x00" in client_id:
        raise ClientAuthenticationFailed("Malformed Basic credentials.")
    return client_id, secret


def authenticate_client_secret_basic(
    query_client: QueryClient, request: OAuth2Request
) -> OAuthClient | None:
    client_id, secret = _basic_credentials(request.headers)
    if not client_id:
        return None
    form = request.form
    if form.get("client_secret"):
        # RFC 6749 §2.3: a client MUST NOT use more than one authentication method.
        raise InvalidRequestError("Use exactly one client authentication method.")
    if form.get("client_id") and form.get("client_id") != client_id:
        raise ClientAuthenticationFailed("client_id does not match")
    return _secret_client(client_id, secret)


def authenticate_client_secret_post(
    query_client: QueryClient, request: OAuth2Request
) -> OAuthClient | None:
    form = request.form
    if not form.get("client_secret"):
        return None
    return _secret_client(form.get("client_id"), form.get("client_secret"))


def authenticate_none(query_client: QueryClient, request: OAuth2Request) -> OAuthClient | None:
    form = request.form
    client_id = form.get("client_id")
    if not client_id or form.get("client_secret") or request.headers.get("Authorization"):
        return None
    client = clients.get_client(client_id)
    return client if client is not None and client.is_public else None
