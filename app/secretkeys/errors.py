"""The secret-key feature's client-facing errors (rendered by app.errors, by surface)."""

from __future__ import annotations

from app.errors import Conflict, Forbidden, NotFound, TollgateError, Unauthorized, ValidationFailed


class SecretKeyExists(Conflict):
    error = "secret_key_exists"
    description = "The user already has a secret key; revoke it before adding a new one"


class KeyAlreadyRevealed(Conflict):
    error = "key_already_revealed"
    description = (
        "The key has already been revealed; revoke it and add a new one to send a new link"
    )


class NoSecretKey(Conflict):
    error = "no_secret_key"
    description = "The user has no secret key; add one first"


class SecretKeyNotFound(NotFound):
    description = "The user has no secret key"


class InactiveUser(ValidationFailed):
    description = "The user is not active"


class InvalidKeyCredentials(Unauthorized):
    """One answer for every failure at the token endpoint (T26)."""

    description = "Invalid email or secret key"


class RevealRefused(Forbidden):
    description = "You do not have permission to reveal this key"


class RevealLinkGone(TollgateError):
    status, error = 410, "reveal_link_gone"
    description = (
        "This link has expired or has already been used. "
        "Ask your Secret Key Administrator for a new link."
    )
