"""Redirect URI rules: validation at registration, exact matching at use.

Matching is exact string comparison (RFC 9700 §2.1), with one exception from RFC 8252 §7.3:
for a public (native) client, a registered ``http`` URI on a loopback IP literal
(``127.0.0.1`` or ``[::1]``) matches the same URI on any port, because native apps listen on
an ephemeral port. ``localhost`` is matched exactly (it is a name that can resolve elsewhere,
RFC 8252 §8.3), and so is every URI of a confidential client.
"""

from __future__ import annotations

from urllib.parse import urlsplit

LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}
# The hosts whose port is free for native apps (RFC 8252 §7.3 names only the IP literals).
LOOPBACK_IP_LITERALS = {"127.0.0.1", "::1"}
FORBIDDEN_SCHEMES = {"javascript", "data", "vbscript", "file", "blob", "about"}


class InvalidRedirectURI(ValueError):
    pass


def _is_loopback_http(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS


def validate_redirect_uri(uri: str, *, dynamic: bool = False) -> str:
    """Check a redirect URI before it is registered; returns it unchanged or raises.

    Operators may register https, http and private-use schemes (``sureapp://oauth/callback``);
    dynamically registered clients only https or loopback http (Sure's rule).
    """
    if not isinstance(uri, str) or not uri.strip() or uri != uri.strip():
        raise InvalidRedirectURI("redirect URIs must be non-empty strings")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in uri) or "*" in uri:
        raise InvalidRedirectURI("redirect URIs must not contain spaces or wildcards")
    try:
        parts = urlsplit(uri)
        _ = parts.port
    except ValueError as exc:
        raise InvalidRedirectURI("redirect URI is not a valid URI") from exc
    scheme = parts.scheme.lower()
    if not scheme:
        raise InvalidRedirectURI("redirect URIs must be absolute")
    if scheme in FORBIDDEN_SCHEMES:
        raise InvalidRedirectURI(f"the {scheme}: scheme is not allowed")
    if parts.fragment or "#" in uri:
        raise InvalidRedirectURI("redirect URIs must not contain a fragment")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise InvalidRedirectURI("redirect URIs must not contain user information")
    if scheme in ("http", "https") and not parts.hostname:
        raise InvalidRedirectURI("redirect URIs must name a host")
    if dynamic and not (scheme == "https" or _is_loopback_http(uri)):
        raise InvalidRedirectURI("redirect_uris must use https or loopback http")
    if scheme not in ("http", "https") and not parts.netloc and not parts.path:
        raise InvalidRedirectURI("redirect URI is not a valid URI")
    return uri


def _is_loopback_ip_http(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_IP_LITERALS


def redirect_uri_matches(presented: str, registered: str, *, public: bool = False) -> bool:
    """Exact match; for a public client, also a loopback IP literal URI on another port."""
    if presented == registered:
        return True
    if not (public and _is_loopback_ip_http(presented) and _is_loopback_ip_http(registered)):
        return False
    try:
        a, b = urlsplit(presented), urlsplit(registered)
        _ = a.port
    except ValueError:
        return False
    if a.username is not None or a.password is not None or "@" in a.netloc:
        return False
    return (
        a.scheme == b.scheme
        and a.hostname == b.hostname
        and a.path == b.path
        and a.query == b.query
        and not a.fragment
    )
