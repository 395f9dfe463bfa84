"""A real, independent OpenID provider for the tests: panva's oidc-provider (Node.js) in
``tests/idp/server.mjs``, one process per test session on loopback.

The ``upstream_idp`` fixture (registered in ``tests/conftest.py``) gives an :class:`UpstreamIdp`:
its ``issuer`` (``http://127.0.0.1:<port>``), a confidential client (``client_id``,
``client_secret``, ``client_secret_basic``), a known ``user`` and :func:`sign_in_at_idp`, which
does what a person does on the provider's pages with plain ``requests``. Users and clients live
in a JSON state file the provider re-reads on every lookup, so a test can add a user (another
email, or the email of an existing Tollgate user) or a client with its own redirect URIs while the
provider runs. Signing in with ``action="deny"`` makes the provider send ``error=access_denied``
back to the relying party. The provider speaks plain http on loopback: an Authlib client talking
to it needs ``AUTHLIB_INSECURE_TRANSPORT=1`` in its process.

``tests/idp/node_modules`` is installed with ``npm ci`` when missing or stale (under a file lock,
so parallel sessions install once). Without node/npm the fixture skips with the reason, unless
``REQUIRE_BROWSER=1`` or ``CI`` is set: there it fails.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from html import unescape
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from tests.support.servers import free_port

IDP_DIR = Path(__file__).resolve().parents[1] / "idp"
SERVER = IDP_DIR / "server.mjs"
# The provider keys the default client accepts callbacks for out of the box (Flask's test client
# and url_for(_external=True) say http://localhost); add others with allow_redirect_uris().
DEFAULT_REDIRECT_URIS = (
    "http://localhost/auth/upstream/callback",
    "http://localhost/auth/idp/callback",
)
FORM = re.compile(r'<form method="post" action="([^"]+)" id="([^"]+)"')
MESSAGE = re.compile(r'<p id="(?:message|error)"[^>]*>([^<]*)</p>')


class IdpSignInError(AssertionError):
    """The provider's pages did not lead back to the relying party (wrong password, an error
    page such as an unregistered redirect_uri, a loop)."""


@dataclass(frozen=True)
class UpstreamUser:
    sub: str
    login: str
    password: str
    email: str | None
    email_verified: bool = True
    given_name: str | None = None
    family_name: str | None = None


@dataclass(frozen=True)
class UpstreamClient:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    token_endpoint_auth_method: str = "client_secret_basic"


@dataclass
class UpstreamIdp:
    issuer: str
    client_id: str
    client_secret: str
    user: UpstreamUser
    state_path: Path
    log_path: Path
    _users: dict[str, UpstreamUser] = field(default_factory=dict)
    _clients: dict[str, UpstreamClient] = field(default_factory=dict)
    claims_in_id_token: bool = True

    # --- what the provider says about itself --------------------------------------------------

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    def metadata(self) -> dict[str, Any]:
        answer = requests.get(self.discovery_url, timeout=10)
        answer.raise_for_status()
        return dict(answer.json())

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    # --- users and clients (the provider re-reads the state file on every lookup) --------------

    @property
    def users(self) -> list[UpstreamUser]:
        return list(self._users.values())

    @property
    def client(self) -> UpstreamClient:
        return self._clients[self.client_id]

    def add_user(
        self,
        email: str | None,
        *,
        password: str = "upstream password",
        login: str | None = None,
        sub: str | None = None,
        email_verified: bool = True,
        given_name: str | None = "Up",
        family_name: str | None = "Stream",
    ) -> UpstreamUser:
        """A new (or, with an existing ``sub``, a replaced) user; signs in with ``login``
        (default: the email, else the sub) and ``password``."""
        sub = sub or f"upstream-{uuid.uuid4().hex}"
        user = UpstreamUser(
            sub=sub,
            login=login or email or sub,
            password=password,
            email=email,
            email_verified=email_verified,
            given_name=given_name,
            family_name=family_name,
        )
        self._users[sub] = user
        self._write()
        return user

    def set_user(self, sub: str, **changes: Any) -> UpstreamUser:
        """Change a user's claims (email, email_verified, names, password, login) in place."""
        user = UpstreamUser(**{**asdict(self._users[sub]), **changes})
        self._users[sub] = user
        self._write()
        return user

    def remove_user(self, sub: str) -> None:
        del self._users[sub]
        self._write()

    def add_client(
        self,
        redirect_uris: list[str] | tuple[str, ...],
        *,
        token_endpoint_auth_method: Literal[
            "client_secret_basic", "client_secret_post"
        ] = "client_secret_basic",
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> UpstreamClient:
        """Another confidential client (exact-match redirect URIs, PKCE S256 required)."""
        client = UpstreamClient(
            client_id=client_id or f"client-{uuid.uuid4().hex[:12]}",
            client_secret=client_secret or uuid.uuid4().hex + uuid.uuid4().hex,
            redirect_uris=tuple(redirect_uris),
            token_endpoint_auth_method=token_endpoint_auth_method,
        )
        self._clients[client.client_id] = client
        self._write()
        return client

    def allow_redirect_uris(self, *uris: str) -> None:
        """Let the default client redirect to these too (e.g. a real server's callback)."""
        client = self.client
        extra = tuple(uri for uri in uris if uri not in client.redirect_uris)
        if extra:
            self._clients[client.client_id] = UpstreamClient(
                client.client_id,
                client.client_secret,
                client.redirect_uris + extra,
                client.token_endpoint_auth_method,
            )
            self._write()

    def set_claims_in_id_token(self, enabled: bool) -> None:
        """False: the ID token carries only sub (and protocol claims); email and names come
        from userinfo alone (OIDC Core 5.4, as some providers do)."""
        self.claims_in_id_token = enabled
        self._write()

    def _write(self) -> None:
        state = {
            "clients": [
                {**asdict(client), "redirect_uris": list(client.redirect_uris)}
                for client in self._clients.values()
            ],
            "users": [asdict(user) for user in self._users.values()],
            "claims_in_id_token": self.claims_in_id_token,
        }
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=2))
        temporary.replace(self.state_path)

    # --- a person at the provider's pages -----------------------------------------------------

    def sign_in_at_idp(
        self,
        http: requests.Session,
        authorize_url: str,
        *,
        login: str | None = None,
        password: str | None = None,
        action: Literal["login", "deny"] = "login",
        consent: Literal["allow", "deny"] = "allow",
    ) -> str:
        """:func:`sign_in_at_idp`, by default as the known user (``self.user``)."""
        return sign_in_at_idp(
            http,
            authorize_url,
            login=self.user.login if login is None else login,
            password=self.user.password if password is None else password,
            action=action,
            consent=consent,
        )


def sign_in_at_idp(
    http: requests.Session,
    authorize_url: str,
    *,
    login: str,
    password: str,
    action: Literal["login", "deny"] = "login",
    consent: Literal["allow", "deny"] = "allow",
) -> str:
    """Open ``authorize_url`` (the provider's authorization endpoint with the relying party's
    parameters) in ``http`` as a browser would, sign in with ``login``/``password`` (or press
    "Deny" with ``action="deny"``), approve the consent page (or deny it with
    ``consent="deny"``), and return the absolute URL the provider redirects back to, WITHOUT
    following it. The provider's session cookie stays in ``http``: a second sign-in through the
    same session skips the pages, as in a browser. Raises :class:`IdpSignInError` when the
    pages do not lead back (wrong password, an error page, a loop)."""
    origin = _origin(authorize_url)
    answer = http.get(authorize_url, allow_redirects=False, timeout=10)
    for _ in range(20):
        if answer.is_redirect:
            location = urljoin(answer.url, answer.headers["Location"])
            if _origin(location) != origin:
                return location
            answer = http.get(location, allow_redirects=False, timeout=10)
            continue
        forms = dict((form_id, action_path) for action_path, form_id in FORM.findall(answer.text))
        message = MESSAGE.search(answer.text)
        if answer.status_code != 200 or not forms:
            detail = unescape(message.group(1)) if message else answer.text[:500]
            raise IdpSignInError(f"the provider answered {answer.status_code}: {detail}")
        if "login" in forms:
            if action == "deny":
                target, data = forms["deny"], {"action": "deny"}
            else:
                target = forms["login"]
                data = {"login": login, "password": password, "action": "login"}
        elif "consent" in forms:
            target, data = (
                (forms["consent"], {"action": "allow"})
                if consent == "allow"
                else (forms["deny"], {"action": "deny"})
            )
        else:
            raise IdpSignInError(f"unexpected page: {answer.text[:500]}")
        answer = http.post(
            urljoin(answer.url, target), data=data, allow_redirects=False, timeout=10
        )
        if answer.status_code == 401:
            refused = MESSAGE.search(answer.text)
            raise IdpSignInError(unescape(refused.group(1)) if refused else "sign-in refused")
    raise IdpSignInError("the provider's pages never led back to the relying party")


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


# --- the process -----------------------------------------------------------------------------


def _node_missing_reason() -> str | None:
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"{tool} not found on PATH (the test OpenID provider in tests/idp needs Node.js)"
    return None


def _must_run() -> bool:
    return os.environ.get("REQUIRE_BROWSER") == "1" or bool(os.environ.get("CI"))


def _installed() -> bool:
    """Every dependency of tests/idp/package.json present at the version package-lock pins."""
    lock = json.loads((IDP_DIR / "package-lock.json").read_text())
    for path, entry in lock.get("packages", {}).items():
        if not path.startswith("node_modules/") or entry.get("dev"):
            continue
        manifest = IDP_DIR / path / "package.json"
        if not manifest.exists():
            return False
        if json.loads(manifest.read_text()).get("version") != entry.get("version"):
            return False
    return True


def ensure_node_modules() -> None:
    """``npm ci`` in tests/idp unless installed; one installer at a time (a file lock)."""
    if _installed():
        return
    with open(IDP_DIR / ".npm-ci.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if _installed():
                return
            done = subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(IDP_DIR)],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"npm ci in {IDP_DIR} failed:\n{done.stdout}\n{done.stderr}")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def require_node() -> None:
    """Skip (or, with REQUIRE_BROWSER=1 or CI set, fail) when Node.js is missing; install
    tests/idp's node_modules when needed."""
    reason = _node_missing_reason()
    if reason:
        if _must_run():
            pytest.fail(reason + "; REQUIRE_BROWSER/CI is set, so this fails instead of skipping")
        pytest.skip(reason)
    ensure_node_modules()


@dataclass
class IdpProcess:
    process: subprocess.Popen[bytes]
    issuer: str


def start_idp(state_path: Path, log_path: Path, port: int | None = None) -> IdpProcess:
    """Start tests/idp/server.mjs on 127.0.0.1 and wait until its discovery answers."""
    port = port or free_port()
    issuer = f"http://127.0.0.1:{port}"
    with open(log_path, "a") as log:
        process = subprocess.Popen(
            ["node", str(SERVER), "--port", str(port), "--state", str(state_path)],
            cwd=IDP_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            probe = requests.get(issuer + "/.well-known/openid-configuration", timeout=2)
            if probe.status_code == 200 and probe.json().get("issuer") == issuer:
                return IdpProcess(process, issuer)
        except (requests.RequestException, ValueError):  # not listening yet
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop_idp(process)
            raise RuntimeError(f"the test OpenID provider did not start:\n{log_path.read_text()}")
        time.sleep(0.1)


def stop_idp(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def new_upstream_idp(workdir: Path, issuer: str) -> UpstreamIdp:
    """The initial state: the default client and one known user."""
    idp = UpstreamIdp(
        issuer=issuer,
        client_id="tollgate-test-client",
        client_secret="tollgate-test-client-secret-" + uuid.uuid4().hex,
        user=UpstreamUser(
            sub="upstream-alice",
            login="alice@upstream.example",
            password="alice upstream password",
            email="alice@upstream.example",
            email_verified=True,
            given_name="Alice",
            family_name="Upstream",
        ),
        state_path=workdir / "idp-state.json",
        log_path=workdir / "idp.log",
    )
    idp._users[idp.user.sub] = idp.user
    idp._clients[idp.client_id] = UpstreamClient(
        idp.client_id, idp.client_secret, DEFAULT_REDIRECT_URIS, "client_secret_basic"
    )
    idp._write()
    return idp


@pytest.fixture(scope="session")
def upstream_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpstreamIdp]:
    """The session's OpenID provider (see the module docstring). Tests that add users or
    clients should use fresh emails/ids: the process is shared by the whole session."""
    require_node()
    workdir = tmp_path_factory.mktemp("upstream_idp")
    port = free_port()
    idp = new_upstream_idp(workdir, f"http://127.0.0.1:{port}")
    running = start_idp(idp.state_path, idp.log_path, port)
    try:
        yield idp
    finally:
        stop_idp(running.process)
