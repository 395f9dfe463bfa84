"""The errors of Sure's first-party account API, each with Sure's status and message to the
letter (contract §3, §2.4). app.errors renders them in Sure's bodies."""

from __future__ import annotations

from app.errors import SureError


class InviteCodeRequired(SureError):
    status, error = 403, "invite_code_required"
    description = "Invite code is required"


class InvalidInviteCode(SureError):
    status, error = 403, "invalid_invite_code"
    description = "Invalid invite code"


class InvalidSignup(SureError):
    """The password policy or the new user's record refused the signup: ``{"errors": [...]}``."""

    status, error = 422, "validation_failed"

    def __init__(self, errors: list[str]) -> None:
        super().__init__(errors[0] if errors else None, errors=errors)


class DeviceRequired(SureError):
    status, error = 400, "device_required"
    description = "Device information is required"


class SecondFactorRequired(SureError):
    status, error = 401, "mfa_required"
    description = "Two-factor authentication required"

    def __init__(self) -> None:
        super().__init__(extra={"mfa_required": True})


class InvalidCredentials(SureError):
    status, error = 401, "invalid_credentials"
    description = "Invalid email or password"


class DeviceRegistrationFailed(SureError):
    """Sure's answer to a correct sign-in of a deactivated account."""

    status, error = 422, "device_registration_failed"
    description = "Failed to register device"


class RefreshTokenRequired(SureError):
    status, error = 400, "refresh_token_required"
    description = "Refresh token is required"


class InvalidRefreshToken(SureError):
    """Unknown, revoked, expired or replayed, of a third-party client or a deactivated user:
    all one answer (RFC 6749 §5.2 ``invalid_grant`` in Sure's words)."""

    status, error = 401, "invalid_grant"
    description = "Invalid refresh token"


class AiUnavailable(SureError):
    status, error = 403, "ai_unavailable"
    description = "AI is not available for your account"


class AccountDeletionRefused(SureError):
    """Sure's rules for ``DELETE /api/v1/users/me`` (§2.4); ``details`` lists every rule
    broken."""

    status, error = 422, "account_deletion_refused"
    description = "Failed to delete account"

    def __init__(self, problems: list[str]) -> None:
        super().__init__(extra={"details": problems})


class RateLimited(SureError):
    """Sure's own throttle answer (rack-attack's body), with ``Retry-After``."""

    status, error = 429, "rate_limit_exceeded"
    description = "Rate limit exceeded. Try again later."

    def __init__(self, retry_after: int) -> None:
        super().__init__(headers={"Retry-After": str(max(1, int(retry_after)))})
