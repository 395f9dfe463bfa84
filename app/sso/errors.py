"""SSO errors (domain errors, rendered by app.errors)."""

from __future__ import annotations

from app.errors import Conflict, NotFound, SureError, Unauthorized, ValidationFailed


class ProviderNotFound(NotFound):
    error = "sso_provider_not_found"
    description = "SSO provider not configured"


class InvalidProvider(ValidationFailed):
    """A provider's configuration is incomplete or contradicts itself."""

    error = "invalid_sso_provider"


class IdentityNotFound(NotFound):
    error = "sso_identity_not_found"
    description = "SSO identity not found"


class IdentityAlreadyLinked(Conflict):
    """The (issuer, subject) is linked to another user already."""

    error = "sso_identity_already_linked"
    description = "This identity is already linked to an account"


class AccountCreationNotAllowed(ValidationFailed):
    error = "sso_account_creation_not_allowed"
    description = "Account creation is not allowed for this identity"


# --- Sure's mobile/desktop SSO (sso-sure; contract §3.4-3.6, to the letter) -------------------


class InvalidOrExpiredCode(Unauthorized):
    """sso_exchange: unknown, expired, used, or lost a race (Sure's envelope)."""

    error = "invalid_or_expired_code"
    description = "Authorization code is invalid or expired"


class LinkingCodeRequired(SureError):
    status, error = 400, "linking_code_required"
    description = "Linking code is required"


class LinkingCodeInvalid(SureError):
    status, error = 401, "invalid_linking_code"
    description = "Linking code is invalid or expired"


class IdentityRemoved(SureError):
    status, error = 403, "sso_identity_removed"
    description = "SSO identity was removed by an administrator"


class SsoMfaRequired(SureError):
    status, error = 401, "mfa_required"
    description = "MFA users should sign in with email and password"

    def __init__(self) -> None:
        super().__init__(extra={"mfa_required": True})


class AccountCreationDisabled(SureError):
    status, error = 403, "sso_account_creation_disabled"
    description = "SSO account creation is disabled. Please contact an administrator."


class DesktopExchangeRefused(Unauthorized):
    """The desktop code is unknown, used, expired, the verifier does not match, or the user
    changed since; the view sends the browser to the sign-in page, as Sure does."""

    error = "desktop_exchange_refused"
    description = "Could not authenticate via OpenID Connect."
