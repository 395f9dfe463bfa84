"""A small OpenID provider on loopback that answers like a real one but can be told to forge
the ID token it issues: signed by a key it does not publish, for another audience or issuer,
expired, with another nonce or none, or no ID token at all.

The panva provider (tests/support/idp.py) only ever issues good ID tokens; these tests need a
provider that lies, over real HTTP, so the relying party's checks (Authlib's parse_id_token)
run exactly as in production. It checks PKCE (S256) like a real provider, so a relying party
that dropped the code verifier fails here too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

# What the provider gets wrong on purpose; "good" is an honest provider.
FORGERIES = (
    "bad_signature",
    "wrong_issuer",
    "wrong_audience",
    "expired",
    "wrong_nonce",
    "no_nonce",
    "no_id_token",
    "userinfo_other_subject",
)
MODES = ("good", *FORGERIES)


@dataclass
class ForgingOp:
    issuer: str
    client_id: str = "forging-client"
    client_secret: str = "forging-client-secret"
    mode: str = "good"
    subject: str = "forged-subject"
    email: str = "forged.person@forging.example"
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    # Same kid, never published: a token it signs has a "bad signature".
    rogue_key: RSAKey = field(
        default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"})
    )
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "jwks_uri": self.issuer + "/jwks",
            "userinfo_endpoint": self.issuer + "/userinfo",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def id_token(self, request: dict[str, str]) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": self.subject,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": request.get("nonce"),
            "email": self.email,
            "email_verified": True,
            "given_name": "Forged",
            "family_name": "Person",
        }
        key = self.key
        if self.mode == "bad_signature":
            key = self.rogue_key
        elif self.mode == "wrong_issuer":
            claims["iss"] = "https://someone-else.example"
        elif self.mode == "wrong_audience":
            claims["aud"] = "another-client"
        elif self.mode == "expired":
            claims["iat"], claims["exp"] = now - 3600, now - 600
        elif self.mode == "wrong_nonce":
            claims["nonce"] = "not-the-nonce-you-sent"
        elif self.mode == "no_nonce":
            del claims["nonce"]
        elif self.mode == "userinfo_other_subject":  # the profile only in userinfo
            for name in ("email", "email_verified", "given_name", "family_name"):
                del claims[name]
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)


def _s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


def _handler(op: ForgingOp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/.well-known/openid-configuration":
                self._json(200, op.metadata())
            elif parts.path == "/jwks":
                self._json(200, {"keys": [op.key.as_dict(private=False)]})
            elif parts.path == "/userinfo":
                # Answers for someone else in "userinfo_other_subject" mode (a mix-up).
                subject = "someone-else" if op.mode == "userinfo_other_subject" else op.subject
                self._json(200, {"sub": subject, "email": op.email, "email_verified": True})
            elif parts.path == "/authorize":
                params = {k: v[0] for k, v in parse_qs(parts.query).items()}
                code = secrets.token_urlsafe(16)
                op.codes[code] = params
                target = (
                    params["redirect_uri"]
                    + "?"
                    + urlencode({"code": code, "state": params.get("state", "")})
                )
                self.send_response(302)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            op.token_requests.append(form)
            request = op.codes.pop(form.get("code", ""), None)
            if self.path != "/token" or request is None:
                self._json(400, {"error": "invalid_grant"})
                return
            if _s256(form.get("code_verifier", "")) != request.get("code_challenge"):
                self._json(400, {"error": "invalid_grant", "error_description": "PKCE"})
                return
            body: dict[str, Any] = {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 300,
            }
            if op.mode != "no_id_token":
                body["id_token"] = op.id_token(request)
            self._json(200, body)

    return Handler


@pytest.fixture(name="forging_op")
def forging_op_fixture() -> Iterator[ForgingOp]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    op = ForgingOp(issuer=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(op)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield op
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
