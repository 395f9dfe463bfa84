"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2-§3): which client asks,
for whom, and where the browser may go afterwards. The view ends the browser session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from authlib.common.urls import add_params_to_uri

from app.errors import BadRequest
from app.oauth2.oidc import id_tokens
from app.oauth2.services import clients


class InvalidLogoutRequest(BadRequest):
    error = "invalid_request"


@dataclass(frozen=True)
class LogoutRequest:
    client_id: str | None
    subject: str | None  # the hint's sub: whose session the client means to end
    redirect_to: str | None  # post_logout_redirect_uri with state, when one was allowed


def validate(
    *,
    id_token_hint: str | None,
    client_id: str | None,
    post_logout_redirect_uri: str | None,
    state: str | None,
    issuer: str,
    now: datetime,
) -> LogoutRequest:
    """Check a logout request. A hint must be an ID token signed here (expired is fine); a
    client_id must match its audience; a post_logout_redirect_uri must be registered, exactly,
    for the client the hint or client_id names. Raises InvalidLogoutRequest."""
    subject = None
    if id_token_hint:
        try:
            claims = id_tokens.read_hint(id_token_hint, issuer=issuer, now=now)
        except id_tokens.InvalidIdTokenHint as exc:
            raise InvalidLogoutRequest("The id_token_hint is not valid.") from exc
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if client_id and client_id not in audiences:
            raise InvalidLogoutRequest("The client_id does not match the id_token_hint.")
        client_id = client_id or (audiences[0] if len(audiences) == 1 else None)
        subject = claims["sub"]
    redirect_to = None
    if post_logout_redirect_uri:
        client = clients.get_client(client_id) if client_id else None
        if client is None:
            raise InvalidLogoutRequest(
                "A post_logout_redirect_uri needs an id_token_hint or client_id."
            )
        if post_logout_redirect_uri not in (client.post_logout_redirect_uris or []):
            raise InvalidLogoutRequest(
                "The post_logout_redirect_uri is not registered for this client."
            )
        params = [("state", state)] if state else []
        redirect_to = add_params_to_uri(post_logout_redirect_uri, params)
    return LogoutRequest(client_id=client_id, subject=subject, redirect_to=redirect_to)
