"""The ssoSecret of an organisation: derived, never stored (reference C4, decision D2).

``ssoSecret = base64url(HMAC-SHA256(PARTNER_SSO_KEY, "sso:" + organization_id + ":" + version))``
(no padding, 43 characters). The database holds only the version, so "it is not stored on the
system" is literally true, yet the server can recompute the secret to verify a partner's HS256
assertion (a hash of it could not verify an HMAC: T13). Rotating is ``version + 1``, which
changes the secret and so refuses every assertion signed with the old one.

Partners sign with the secret's raw UTF-8 bytes, as jwt.io does by default ("secret base64
encoded" unticked, T12): the string itself is the HMAC key, it is never base64-decoded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

from flask import current_app


def derive(organization_id: uuid.UUID, version: int) -> str:
    """The ssoSecret of ``organization_id`` at ``version``."""
    server_key = str(current_app.config["PARTNER_SSO_KEY"]).encode("utf-8")
    message = f"sso:{organization_id}:{version}".encode()
    mac = hmac.new(server_key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def signing_key(organization_id: uuid.UUID, version: int) -> bytes:
    """The HMAC key a partner's assertion is signed with: the secret's UTF-8 bytes."""
    return derive(organization_id, version).encode("utf-8")
