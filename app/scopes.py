"""Scope algebra shared by the authorization server and every resource check.

Two resource scopes exist: ``read`` and ``read_write``; ``read_write`` includes ``read``. A
required ``write`` is satisfied only by ``read_write``; any other name only by itself. The
OpenID Connect scopes (``openid``, ``profile``, ``email``) reach the ID token and userinfo
only: they never satisfy a resource scope.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import current_app

OIDC_SCOPES = ("openid", "profile", "email")


def to_list(scope: str | Iterable[str] | None) -> list[str]:
    if not scope:
        return []
    items = scope.split() if isinstance(scope, str) else list(scope)
    return list(dict.fromkeys(items))


def to_string(scope: Iterable[str]) -> str:
    return " ".join(dict.fromkeys(scope))


def satisfies(granted: str | Iterable[str] | None, required: str) -> bool:
    names = set(to_list(granted))
    if required == "read":
        return bool(names & {"read", "read_write"})
    if required == "write":
        return "read_write" in names
    return required in names


def includes(granted: str | Iterable[str] | None, requested: str | Iterable[str] | None) -> bool:
    """Whether every requested scope is covered by ``granted`` (read_write covers read)."""
    names = to_list(granted)
    return all(
        name in names or (name == "read" and "read_write" in names) for name in to_list(requested)
    )


def supported() -> list[str]:
    return list(current_app.config["OAUTH2_SCOPES_SUPPORTED"])


def resource_scopes() -> list[str]:
    """The supported scopes a protected resource checks (RFC 9728 ``scopes_supported``)."""
    return [name for name in supported() if name not in OIDC_SCOPES]


def default_for_client(client_scope: str) -> str:
    """The scope of a request that names none. A client registered only for ``read_write``
    gets ``read_write`` (as Sure does), everyone else the configured default."""
    registered = to_list(client_scope)
    if registered == ["read_write"]:
        return "read_write"
    return str(current_app.config["OAUTH2_DEFAULT_SCOPE"])


def allowed_for_client(requested: str | None, client_scope: str) -> str | None:
    """The scope to grant, or None when the request asks for more than the client may have
    (the caller answers ``invalid_scope``)."""
    wanted = to_list(requested) or to_list(default_for_client(client_scope))
    if not set(wanted) <= set(supported()):
        return None
    if not includes(client_scope, wanted):
        return None
    return to_string(wanted)
