"""``Authorization: Bearer`` (RFC 6750 §2.1) and its challenge (§3): one parser, one realm,
for the gate and for the OAuth endpoints that read a bearer token themselves."""

from __future__ import annotations

import re

REALM = "Tollgate"

# credentials = "Bearer" 1*SP b64token; the scheme is case-insensitive (RFC 9110 §11.1).
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)")


def bearer_credential(header: str) -> str | None:
    """The token in an ``Authorization`` header value, or None unless it is exactly
    ``Bearer <b64token>`` (surrounding whitespace aside)."""
    match = _BEARER.fullmatch(header.strip())
    return match.group(1) if match else None


def bearer_challenge(*params: str) -> str:
    """A ``WWW-Authenticate`` value: the Bearer scheme, our realm, then ``params`` as given
    (``error="invalid_token"``, ``scope="read"``, ``resource_metadata="…"``)."""
    return ", ".join([f'Bearer realm="{REALM}"', *params])


def basic_challenge(*params: str) -> str:
    """The ``Basic`` challenge of client authentication (RFC 7617 §2), with our realm."""
    return ", ".join([f'Basic realm="{REALM}"', *params])
