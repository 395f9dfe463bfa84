"""Partner SSO assertions (Surfsight): HS256 JWTs a partner signs with an organisation's
ssoSecret, carrying ``organizationId`` and ``timestamp`` ("YYYY-MM-DDThh:mm:ss", UTC).

The traps this module exists to avoid (reference T12):
- the header's ``alg`` must be exactly HS256 (``none``, HS512, RS256 are refused), and the key
  and algorithm come from us, never from the header;
- ``organizationId`` is read from the unverified payload only to choose whose secret to verify
  with; nothing is trusted before the signature checks out;
- the timestamp is UTC, and valid only within ``now - 15 min <= timestamp <= now + leeway``:
  checking only the age would leave a future timestamp valid for ever; ``exp``, when present,
  is enforced too.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from app import crypto
from app.clock import epoch
from app.errors import BadRequest, Unauthorized
from app.gate.bearer import bearer_challenge

ALGORITHM = "HS256"
# The seed's format, read as UTC; fractional seconds and a "Z" (what JavaScript's
# toISOString() adds) are tolerated, any other offset is not.
TIMESTAMP_RE = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.\d{1,6})?Z?")
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"
_MAX_LENGTH = 8192  # far more than any real assertion; refuses absurd inputs early


class InvalidAssertion(Unauthorized):
    """401: not an HS256 assertion, a bad signature, too old, in the future, expired,
    replayed, or of another region."""

    error = "invalid_assertion"
    description = "The SSO assertion is invalid"

    def __init__(self, description: str | None = None) -> None:
        super().__init__(
            description, headers={"WWW-Authenticate": bearer_challenge('error="invalid_token"')}
        )


class MalformedClaims(BadRequest):
    """400: a verified-shape assertion whose claims are missing or malformed."""

    error = "invalid_claims"
    description = "The SSO assertion's claims are missing or malformed"


@dataclass(frozen=True)
class Assertion:
    """A compact JWS as presented, split; nothing in it is trusted yet."""

    value: str
    signing_input: str
    signature: bytes
    unverified_claims: dict[str, Any]

    def digest(self) -> str:
        """What single use is keyed on: the signing input and the *decoded* signature
        re-encoded canonically, so a signature segment re-spelled with different spare
        base64 bits (same bytes) is still the same assertion."""
        canonical = base64.urlsafe_b64encode(self.signature).rstrip(b"=").decode("ascii")
        return crypto.digest(f"{self.signing_input}.{canonical}")


def _b64decode(segment: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        return None


def _json_object(segment: str) -> dict[str, Any] | None:
    raw = _b64decode(segment)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def parse(value: str | None) -> Assertion:
    """Split a presented assertion and check its header; InvalidAssertion if it is not an
    HS256 compact JWS with a JSON object as payload."""
    if not value or len(value) > _MAX_LENGTH or value.count(".") != 2:
        raise InvalidAssertion("Send the assertion as Authorization: Bearer <HS256 JWT>")
    header_segment, payload_segment, signature_segment = value.split(".")
    header = _json_object(header_segment)
    if header is None or header.get("alg") != ALGORITHM:
        raise InvalidAssertion("The SSO assertion must be a JWT signed with HS256")
    if "crit" in header:  # no extension is understood here, so none may be critical
        raise InvalidAssertion("The SSO assertion uses an unsupported critical header")
    claims = _json_object(payload_segment)
    signature = _b64decode(signature_segment)
    if claims is None or not signature:
        raise InvalidAssertion("The SSO assertion must be a JWT signed with HS256")
    return Assertion(value, f"{header_segment}.{payload_segment}", signature, claims)


def claimed_organization(assertion: Assertion) -> uuid.UUID | None:
    """The organisation the assertion names (unverified: only to choose the secret). 400 when
    the claim is missing; None when it cannot name any organisation (then: not found)."""
    raw = assertion.unverified_claims.get("organizationId")
    if not isinstance(raw, str) or not raw.strip():
        raise MalformedClaims("The organizationId claim is required")
    try:
        return uuid.UUID(raw.strip())
    except ValueError:
        return None


def verified_claims(assertion: Assertion, key: bytes) -> dict[str, Any]:
    """The claims, once the HS256 signature made with ``key`` checks out."""
    try:
        token = jwt.decode(assertion.value, OctKey.import_key(key), algorithms=[ALGORITHM])
    except (JoseError, ValueError, TypeError):
        raise InvalidAssertion(
            "The SSO assertion's signature does not match the organization's ssoSecret"
        ) from None
    return dict(token.claims)


def timestamp_of(claims: dict[str, Any]) -> datetime:
    """The ``timestamp`` claim as naive UTC; 400 when missing or not in the seed's format."""
    raw = claims.get("timestamp")
    match = TIMESTAMP_RE.fullmatch(raw) if isinstance(raw, str) else None
    if match is None:
        raise MalformedClaims("The timestamp claim must be the UTC time as YYYY-MM-DDThh:mm:ss")
    try:
        return datetime.strptime(match.group(1), TIMESTAMP_FORMAT)
    except ValueError:  # well-shaped but no such moment (month 13, 25 o'clock)
        raise MalformedClaims(
            "The timestamp claim must be the UTC time as YYYY-MM-DDThh:mm:ss"
        ) from None


def check_validity(
    claims: dict[str, Any], *, now: datetime, lifetime: int, leeway: int
) -> datetime:
    """The assertion's timestamp, once it is within ``now - lifetime .. now + leeway`` and
    ``exp`` (if any) has not passed; InvalidAssertion otherwise (400 for malformed claims)."""
    stamped = timestamp_of(claims)
    if stamped > now + timedelta(seconds=leeway):
        raise InvalidAssertion("The SSO assertion's timestamp is in the future")
    if stamped < now - timedelta(seconds=lifetime):
        raise InvalidAssertion(
            f"The SSO assertion is more than {lifetime // 60} minutes old; sign a new one"
        )
    expires = claims.get("exp")
    if expires is not None:
        if (
            isinstance(expires, bool)
            or not isinstance(expires, int | float)
            or not math.isfinite(expires)
        ):
            raise MalformedClaims("The exp claim must be a number of seconds since the epoch")
        if epoch(now) >= expires + leeway:
            raise InvalidAssertion("The SSO assertion has expired")
    return stamped
