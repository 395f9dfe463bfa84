"""OAuth error responses (RFC 6749 §5.2 shape) that Authlib does not have. They are Authlib
``OAuth2Error``s, so the one error handler (``app.errors``) renders them like Authlib's own."""

from __future__ import annotations

from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidGrantError


class MfaRequiredError(InvalidGrantError):
    """Password grant for an account with TOTP on, without a valid ``otp_code``."""

    def __init__(self) -> None:
        super().__init__(description="Two-factor authentication required")

    def get_body(self) -> list[tuple[str, Any]]:
        return [*super().get_body(), ("mfa_required", True)]


class ThrottledError(OAuth2Error):
    """Too many failed attempts: 429 with Retry-After (RFC 6585)."""

    error = "temporarily_unavailable"
    status_code = 429

    def __init__(
        self, retry_after: int, description: str = "Too many failed attempts. Try again later."
    ) -> None:
        super().__init__(description=description)
        self.retry_after = retry_after

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("Retry-After", str(self.retry_after))]


class RevocationDeniedError(OAuth2Error):
    """RFC 7009 §2.1: the token was not issued to the client asking to revoke it."""

    error = "unauthorized_client"
    status_code = 403
    description = "You are not authorized to revoke this token"
