"""Every browser form over HTTPS: gunicorn serving TLS with a self-signed certificate made
here, driven by a real Chromium: sign in, consent, MFA enrolment, sign out. A forged
cross-origin POST (valid token and cookie, foreign Origin) is refused."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.browser import needs_browser
from tests.support.oauth import pkce_pair
from tests.support.servers import (
    PASSWORD,
    REDIRECT_URI,
    LiveServer,
    free_port,
    running_server,
    server_env,
)

pytestmark = needs_browser
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (IP SAN) signed by its own key; returns (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class TlsServer(LiveServer):
    cert: str


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    workdir = tmp_path_factory.mktemp("tls")
    cert, key = self_signed_certificate(workdir)
    port = free_port()
    base_url = f"https://127.0.0.1:{port}"
    # APP_ENV=development (server_env's default): the cookie is Secure because of HTTPS alone.
    env = server_env(workdir, base_url)
    with running_server(
        env,
        port,
        workdir / "gunicorn.log",
        scheme="https",
        extra_args=("--certfile", str(cert), "--keyfile", str(key)),
        verify=str(cert),
    ):
        yield TlsServer(base_url, env, str(cert))


def test_every_form_works_over_https_in_chromium(browser, tls_server) -> None:
    user = tls_server.cli("users", "create", "--email", "tls@example.com", "--password", PASSWORD)
    client = tls_server.cli(
        "clients",
        "create",
        "--name",
        "TLS Client",
        "--redirect-uri",
        REDIRECT_URI,
        "--scope",
        "read read_write",
    )
    base = tls_server.base_url
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    posted: dict[str, str | None] = {}

    def remember_origin(request) -> None:  # type: ignore[no-untyped-def]
        if request.method == "POST" and request.url.startswith(base):
            posted[urlsplit(request.url).path] = request.all_headers().get("origin")

    page.on("request", remember_origin)
    landed: list[str] = []

    def client_callback(route) -> None:  # type: ignore[no-untyped-def]
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<p>client got it</p>")

    page.route("https://client.example/**", client_callback)

    # sign in (from the authorization request) and consent
    _, challenge = pkce_pair()
    first = page.goto(
        base
        + "/oauth/authorize?"
        + urlencode(
            {
                "response_type": "code",
                "client_id": client["client_id"],
                "redirect_uri": REDIRECT_URI,
                "scope": "read",
                "state": "tls-1",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
    )
    assert first is not None
    assert first.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert urlsplit(page.url).path == "/login"
    page.fill("input[name=email]", user["email"])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    assert urlsplit(page.url).path == "/oauth/authorize"
    assert page.locator("h1").inner_text() == "Authorize TLS Client"
    page.click("button[name=confirm][value=yes]")
    page.wait_for_url("https://client.example/**")
    params = parse_qs(urlsplit(landed[-1]).query)
    assert params["state"] == ["tls-1"] and params["code"][0].startswith("tgc_")
    # Chromium sends the page's real origin on our forms (Referrer-Policy: same-origin).
    assert posted["/login"] == base and posted["/oauth/authorize"] == base

    (session_cookie,) = [c for c in context.cookies() if c["name"] == "tollgate_session"]
    assert session_cookie["secure"] and session_cookie["httpOnly"]

    # the MFA page: set up, confirm with a code from the shown secret
    page.goto(base + "/account/security")
    page.fill("input[name=password]", PASSWORD)  # starting enrolment is a step-up
    page.click("button[type=submit]")
    secret = page.locator("[data-testid=secret]").inner_text()
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("button[type=submit]")
    assert page.locator("[data-testid=backup-codes] li").count() > 0

    # sign out; the security page then asks for a sign-in again
    page.goto(base + "/")
    page.click("button:has-text('Sign out')")
    assert urlsplit(page.url).path == "/login"
    page.goto(base + "/account/security")
    assert urlsplit(page.url).path == "/login"
    assert posted.keys() >= {"/account/security/enrol", "/account/security/confirm", "/logout"}
    context.close()


def test_cross_origin_post_is_refused_over_https(tls_server) -> None:
    tls_server.cli("users", "create", "--email", "forged@example.com", "--password", PASSWORD)
    http = requests.Session()
    page = http.get(tls_server.base_url + "/login", timeout=10, verify=tls_server.cert)
    match = CSRF_RE.search(page.text)
    assert match
    form = {
        "email": "forged@example.com",
        "password": PASSWORD,
        "next": "/",
        "csrf_token": match.group(1),
    }
    forged = http.post(
        tls_server.base_url + "/login",
        data=form,
        timeout=10,
        verify=tls_server.cert,
        allow_redirects=False,
        headers={"Origin": "https://evil.example"},
    )
    assert forged.status_code == 400
    assert "did not come from this site" in forged.text
    without = http.post(
        tls_server.base_url + "/login",
        data=form,
        timeout=10,
        verify=tls_server.cert,
        allow_redirects=False,
    )
    assert without.status_code == 400
    same = http.post(
        tls_server.base_url + "/login",
        data=form,
        timeout=10,
        verify=tls_server.cert,
        allow_redirects=False,
        headers={"Origin": tls_server.base_url},
    )
    assert same.status_code == 302
