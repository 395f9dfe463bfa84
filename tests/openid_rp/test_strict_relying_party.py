"""Tollgate's OpenID Provider against a strict, independent relying party: panva's
openid-client v6 (tests/idp/rp_check.mjs) and a real server process. Discovery, the code flow
with PKCE and a nonce, the ID token's signature and claims, userinfo, a refresh that brings a new
ID token, and the signing keys' rotation as a verifier sees it in the JWKS."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from app.clock import utcnow
from tests.support.config import TEST_REDIS_URL
from tests.support.idp import require_node
from tests.support.oidc_rp import RelyingPartyError, run_rp, sign_in_and_consent_at_tollgate
from tests.support.servers import (
    BIN,
    PASSWORD,
    REDIRECT_URI,
    ROOT,
    LiveServer,
    free_port,
    running_server,
    server_env,
)

pytestmark = pytest.mark.slow

EMAIL = "oidc-rp@example.com"
SCOPE = "openid profile email"


@pytest.fixture
def op_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A server of each test's own (the rotation test changes the signing keys) on the suite's
    migrated database: PostgreSQL with TEST_DATABASE_URL (and Redis with TEST_REDIS_URL)."""
    require_node()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = server_env(
        tmp_path, base_url, DATABASE_URL=database_url, AUTO_MIGRATE="false",
        REDIS_URL=TEST_REDIS_URL or "",
    )  # fmt: skip
    with running_server(env, port, tmp_path / "gunicorn.log"):
        server = LiveServer(base_url, env)
        server.cli(
            "users", "create", "--email", EMAIL, "--password", PASSWORD,
            "--first-name", "Olive", "--last-name", "Relying",
        )  # fmt: skip
        yield server


def new_client(server: LiveServer, *extra: str) -> dict[str, Any]:
    return server.cli(
        "clients", "create", "--name", "openid-client RP", "--redirect-uri", REDIRECT_URI,
        "--scope", SCOPE, *extra,
    )  # fmt: skip


def rp_options(server: LiveServer, client: dict[str, Any], **more: str | None) -> dict[str, Any]:
    return {
        "issuer": server.base_url,
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        **more,
    }


def sign_in(server: LiveServer, client: dict[str, Any], **more: str | None) -> dict[str, Any]:
    """start (discovery, authorization URL) -> a person signs in and consents -> finish."""
    options = rp_options(server, client, **more)
    started = run_rp("start", **options)
    callback = sign_in_and_consent_at_tollgate(
        requests.Session(),
        server.base_url,
        started["authorization_url"],
        email=EMAIL,
        password=PASSWORD,
    )
    finished = run_rp(
        "finish",
        **options,
        callback_url=callback,
        state=started["state"],
        nonce=started["nonce"],
        code_verifier=started["code_verifier"],
    )
    finished["metadata"] = started["metadata"]
    finished["replay"] = {  # what a second use of the same authorization response needs
        "callback_url": callback,
        "state": started["state"],
        "nonce": started["nonce"],
        "code_verifier": started["code_verifier"],
    }
    return finished


def keys_cli(server: LiveServer, command: str, **config: str) -> dict[str, Any]:
    """``flask --app wsgi keys <command>`` against the server's database; ``config`` is the
    CLI process's own configuration (the rotation fixes how long a retired key stays
    published from its OIDC_ID_TOKEN_LIFETIME)."""
    done = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "keys", command],
        cwd=ROOT,
        env={**server.env, **config},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def key_state(server: LiveServer, kid: str) -> str:
    return str(next(k["state"] for k in keys_cli(server, "list")["keys"] if k["kid"] == kid))


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_code_flow_with_pkce_nonce_userinfo_and_refresh(op_server: LiveServer, alg: str) -> None:
    client = new_client(op_server, "--id-token-signed-response-alg", alg)
    # openid-client is told the registered alg and refuses an ID token signed with another.
    result = sign_in(op_server, client, alg=alg)

    metadata = result["metadata"]
    assert metadata["issuer"] == op_server.base_url
    assert "code" in metadata["response_types_supported"]
    assert "S256" in metadata["code_challenge_methods_supported"]
    assert {"RS256", "ES256"} <= set(metadata["id_token_signing_alg_values_supported"])
    assert metadata["jwks_uri"] and metadata["userinfo_endpoint"]
    assert "public" in metadata["subject_types_supported"]

    claims = result["claims"]  # openid-client validated signature, iss, aud, exp, iat, nonce
    assert claims["iss"] == op_server.base_url and claims["aud"] in (
        client["client_id"],
        [client["client_id"]],
    )
    assert result["id_token_header"]["alg"] == alg
    assert result["refreshed"]["id_token_header"]["alg"] == alg
    assert result["userinfo"]["sub"] == claims["sub"]
    assert result["userinfo"]["email"] == EMAIL
    assert (result["userinfo"]["given_name"], result["userinfo"]["family_name"]) == (
        "Olive",
        "Relying",
    )
    refreshed = result["refreshed"]
    assert refreshed is not None, "no refresh token was issued with the code"
    assert refreshed["claims"]["sub"] == claims["sub"]
    assert refreshed["id_token"] != result["id_token"]


def test_the_strict_client_refuses_an_id_token_of_another_alg(op_server: LiveServer) -> None:
    # The checks above bite: a client registered for RS256, an RP expecting ES256.
    client = new_client(op_server, "--id-token-signed-response-alg", "RS256")
    with pytest.raises(RelyingPartyError) as refused:
        sign_in(op_server, client, alg="ES256")
    assert refused.value.answer["cause"] == 'unexpected JWT "alg" header parameter'


def test_client_secret_post_works_as_well(op_server: LiveServer) -> None:
    # Confidential clients may send their secret in the body (OAuthClient accepts both).
    client = new_client(op_server)
    result = sign_in(op_server, client, auth="client_secret_post")
    assert result["userinfo"]["email"] == EMAIL and result["refreshed"] is not None


def test_an_authorization_code_works_once(op_server: LiveServer) -> None:
    client = new_client(op_server)
    result = sign_in(op_server, client)
    with pytest.raises(RelyingPartyError) as replayed:
        run_rp("finish", **rp_options(op_server, client), **result["replay"])
    assert replayed.value.answer["code"] == "OAUTH_RESPONSE_BODY_ERROR"
    assert "invalid_grant" in str(replayed.value.answer)


def test_a_token_signed_before_a_rotation_verifies_until_its_key_leaves_the_jwks(
    op_server: LiveServer,
) -> None:
    client = new_client(op_server)
    before = sign_in(op_server, client)
    options = rp_options(op_server, client)
    assert run_rp("verify", **options, id_token=before["id_token"])["valid"] is True
    old_kid = before["id_token_header"]["kid"]

    # The retired key stays published for the ID token lifetime configured at rotation; the
    # CLI process is told 15 seconds so the test can watch it leave.
    rotated = keys_cli(op_server, "rotate", OIDC_ID_TOKEN_LIFETIME="15")
    assert old_kid not in [key["kid"] for key in rotated["active"]]
    old_key = next(k for k in keys_cli(op_server, "list")["keys"] if k["kid"] == old_kid)
    assert old_key["state"] == "retired (published)"
    published_until = datetime.fromisoformat(old_key["published_until"].removesuffix("Z"))

    still = run_rp("verify", **options, id_token=before["id_token"])
    assert still["valid"] is True and old_kid in still["jwks_kids"]
    after = sign_in(op_server, client)
    new_kid = after["id_token_header"]["kid"]
    assert new_kid != old_kid
    assert run_rp("verify", **options, id_token=after["id_token"])["valid"] is True

    # Past the retired key's published_until (naive UTC, as the CLI says it):
    time.sleep(max(0.0, (published_until - utcnow()).total_seconds() + 0.5))
    jwks = requests.get(after["metadata"]["jwks_uri"], timeout=10).json()
    assert old_kid not in [key["kid"] for key in jwks["keys"]]
    assert key_state(op_server, old_kid) == "expired"
    with pytest.raises(RelyingPartyError) as gone:
        run_rp("verify", **options, id_token=before["id_token"])
    assert gone.value.returncode == 3 and gone.value.answer["valid"] is False
    assert run_rp("verify", **options, id_token=after["id_token"])["valid"] is True
