"""What the provider says about a user (OpenID Connect Core §5.1, §5.4): ``sub`` always, the
``profile`` and ``email`` claims when the token's scope names them."""

from __future__ import annotations

from typing import Any

from authlib.oidc.core import UserInfo

from app.clock import epoch
from app.identity.models import User

# The claims this provider can return (discovery's claims_supported lists these and the ID
# token's own).
PROFILE_CLAIMS = ("name", "given_name", "family_name", "updated_at")
EMAIL_CLAIMS = ("email",)


def subject(user: User) -> str:
    """The ``sub``: the user's id, opaque and stable for the life of the account (never the
    email, which can change), the same for every client."""
    return str(user.id)


def user_claims(user: User, scope: str) -> dict[str, Any]:
    """The standard claims ``scope`` allows, through Authlib's scope → claims mapping."""
    names = [part for part in (user.first_name, user.last_name) if part]
    info = UserInfo(
        sub=subject(user),
        name=" ".join(names) or None,
        given_name=user.first_name,
        family_name=user.last_name,
        updated_at=epoch(user.updated_at) if user.updated_at else None,
        email=user.email,
    )
    filtered = info.filter(scope)
    return {key: value for key, value in filtered.items() if value is not None}
