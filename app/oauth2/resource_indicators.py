"""Resource indicators (RFC 8707): which protected resource a token is for.

The resources this server protects are its issuer base URL (every protected route) and, under
it, the path prefixes of ``OAUTH2_RESOURCE_PATHS`` (``<base>/api/v1``: the resource API). A
client names them with ``resource`` (repeatable) on the authorization and token requests:

- authorization request: the code remembers the resources the user authorized (none named:
  the grant is not restricted, every resource of this server);
- token request (code or refresh): a ``resource`` must be one of those (a refresh may narrow
  to a subset, never widen); the access token's audience is what the request named, else
  everything authorized;
- an unknown resource, or one outside what was authorized, is ``invalid_target`` (§2).

A token without a resource keeps working as before: its audience is this server. The gate
refuses a token on a route its audience does not cover (``gate.decorators``); introspection
reports ``aud``.

Resource identifiers are compared in a canonical spelling: scheme and host lower-case, no
trailing slash (``https://h/`` names the same resource as ``https://h``: RFC 3986 §6.2.3).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit, urlunsplit

from authlib.oauth2 import OAuth2Error, OAuth2Request
from flask import current_app

from app.requestctx import request_base_url

# RFC 8707 §2: the one token- and authorization-request parameter that may repeat.
REPEATABLE_PARAMETERS = frozenset({"resource"})
PARAMETER = "resource"
# Stored as one column: the identifiers separated by spaces (a URI has none).
SEPARATOR = " "


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested resource is invalid, unknown, or not allowed here."""

    error = "invalid_target"
    status_code = 400


def canonical(uri: str) -> str | None:
    """The canonical spelling of a resource identifier, or None if it is not one: an
    absolute http(s) URI without a fragment (RFC 8707 §2)."""
    if not uri or len(uri) > 2048 or any(c.isspace() for c in uri):
        return None
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or "#" in uri:
        return None
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def server_base() -> str:
    """This server's identifier: the issuer (APP_URL, else this request's base URL)."""
    base: str = current_app.config["APP_URL"] or request_base_url()
    return base


def protected_resources(base: str | None = None) -> tuple[str, ...]:
    """Every resource identifier this server protects, broadest first."""
    root = canonical(base or server_base()) or (base or server_base())
    paths = current_app.config["OAUTH2_RESOURCE_PATHS"]
    return (root, *(f"{root}/{path.strip('/')}" for path in paths if path.strip("/")))


def resource_for_path(path: str, base: str | None = None) -> str | None:
    """The resource whose RFC 9728 §3.1 path-suffixed metadata lives at ``path`` (the part
    after ``/.well-known/oauth-protected-resource``), or None."""
    root, *others = protected_resources(base)
    wanted = f"{root}/{path.strip('/')}"
    return wanted if wanted in others else None


def parse(values: Sequence[str], known: Iterable[str]) -> tuple[str, ...]:
    """The requested resources, canonical and de-duplicated, in request order; raises
    ``invalid_target`` for anything that is not a resource this server protects."""
    known_set = set(known)
    found: list[str] = []
    for value in values:
        resource = canonical(value)
        if resource is None:
            raise InvalidTargetError("The resource must be an absolute URI without a fragment.")
        if resource not in known_set:
            raise InvalidTargetError("The resource is not one this server protects.")
        if resource not in found:
            found.append(resource)
    return tuple(found)


def encode(resources: Sequence[str]) -> str | None:
    return SEPARATOR.join(resources) or None


def decode(stored: str | None) -> tuple[str, ...]:
    return tuple(stored.split(SEPARATOR)) if stored else ()


def narrow(requested: Sequence[str], granted: Sequence[str]) -> tuple[str, ...]:
    """The audience of a token request: what it named (each within what was granted; an
    unrestricted grant allows any known resource), else everything granted."""
    if granted and not set(requested) <= set(granted):
        raise InvalidTargetError("The resource was not part of this authorization.")
    return tuple(requested) or tuple(granted)


def audience_claim(audience: Sequence[str], base: str) -> str | list[str]:
    """RFC 7662 ``aud``: one identifier as a string, several as a list; an unrestricted
    token's audience is this server."""
    if not audience:
        return canonical(base) or base
    return audience[0] if len(audience) == 1 else list(audience)


# --- the Authlib side ----------------------------------------------------------------------


def requested(request: OAuth2Request) -> tuple[str, ...]:
    """The ``resource`` values of an authorization or token request, validated."""
    values: list[str] = list(request.payload.datalist.get(PARAMETER, []))
    return parse(values, protected_resources())


def authorized(request: OAuth2Request) -> tuple[str, ...]:
    """What a validated authorization request asks the user to authorize."""
    resources: tuple[str, ...] = getattr(request, "resources_granted", ())
    return resources


def granted(request: OAuth2Request) -> str | None:
    """What an authorization request authorized, as stored on the code."""
    return encode(authorized(request))


def binding(request: OAuth2Request) -> tuple[str | None, str | None]:
    """(granted resources, access-token audience) of a token request, as stored."""
    return (
        encode(getattr(request, "resources_granted", ())),
        encode(getattr(request, "audience", ())),
    )


def check_refresh(request: OAuth2Request, granted_resources: str | None) -> None:
    """A refresh may name resources within the lineage's grant (RFC 8707 §2.2). Runs before
    the refresh token is claimed, so a refused request leaves it usable."""
    lineage = decode(granted_resources)
    request.resources_granted = lineage
    request.audience = narrow(requested(request), lineage)


class ResourceIndicators:
    """Authlib grant extension: ``resource`` on the authorization request (remembered on the
    code) and on the token request of the code, password and client-credentials grants.
    The refresh grant calls ``check_refresh`` itself, before it claims the refresh token."""

    def __call__(self, grant: object) -> None:
        register = grant.register_hook  # type: ignore[attr-defined]
        register("after_validate_authorization_request_payload", self.validate_authorization)
        if getattr(grant, "GRANT_TYPE", None) == "authorization_code":
            # Before the code is claimed: a refused request leaves it redeemable.
            register("after_validate_token_request", self.validate_code_redemption)
        else:
            register("before_create_token_response", self.validate_direct_grant)

    @staticmethod
    def validate_authorization(grant: object, redirect_uri: str) -> None:
        # Authlib puts redirect_uri (and the server state) on the error: it is redirected.
        request: OAuth2Request = grant.request  # type: ignore[attr-defined]
        request.resources_granted = requested(request)

    @staticmethod
    def validate_code_redemption(grant: object, result: object = None) -> None:
        request: OAuth2Request = grant.request  # type: ignore[attr-defined]
        lineage = decode(request.authorization_code.resource)
        request.resources_granted = lineage
        request.audience = narrow(requested(request), lineage)

    @staticmethod
    def validate_direct_grant(grant: object) -> None:
        request: OAuth2Request = grant.request  # type: ignore[attr-defined]
        resources = requested(request)
        request.resources_granted = resources
        request.audience = resources
