"""Tollgate as an OpenID Provider, seen from outside: a person signing in and consenting on a
real server's pages with ``requests``, and panva's strict ``openid-client`` (tests/idp/
rp_check.mjs) as the relying party, one step per call."""

from __future__ import annotations

import json
import re
import subprocess
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

from tests.support.idp import IDP_DIR

RP_CHECK = IDP_DIR / "rp_check.mjs"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"\s*/?>')
FORM = re.compile(r'<form method="post" action="([^"]+)">(.*?)</form>', re.DOTALL)


class RelyingPartyError(AssertionError):
    """openid-client refused something (its error name, code and message are in ``answer``)."""

    def __init__(self, answer: dict[str, Any], returncode: int) -> None:
        super().__init__(f"rp_check.mjs exited {returncode}: {answer}")
        self.answer = answer
        self.returncode = returncode


def run_rp(command: str, **options: str | None) -> dict[str, Any]:
    """``node rp_check.mjs <command> --<option> <value> ...``; its JSON answer. Raises
    :class:`RelyingPartyError` when it reports a failed check."""
    argv = ["node", str(RP_CHECK), command]
    for name, value in options.items():
        if value is not None:
            argv.append(f"--{name.replace('_', '-')}={value}")  # values may start with "-"
    done = subprocess.run(
        argv, cwd=IDP_DIR, capture_output=True, text=True, timeout=60, check=False
    )
    try:
        answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise AssertionError(f"rp_check.mjs {command}: {done.stdout}\n{done.stderr}") from exc
    if done.returncode != 0:
        raise RelyingPartyError(answer, done.returncode)
    return answer


def sign_in_and_consent_at_tollgate(
    http: requests.Session, base_url: str, authorize_url: str, *, email: str, password: str
) -> str:
    """What a person does at a Tollgate server's authorization endpoint: sign in when asked,
    approve the consent page when shown. Returns the redirect back to the client, unfollowed."""
    answer = http.get(authorize_url, allow_redirects=False, timeout=10)
    for _ in range(10):
        if answer.is_redirect:
            location = urljoin(answer.url, answer.headers["Location"])
            if not location.startswith(base_url + "/"):
                return location
            if urlsplit(location).path == "/login":
                page = http.get(location, timeout=10).text
                answer = http.post(
                    urljoin(base_url, "/login"),
                    data={
                        "email": email,
                        "password": password,
                        "next": parse_qs(urlsplit(location).query).get("next", ["/"])[0],
                        "csrf_token": CSRF.search(page).group(1),  # type: ignore[union-attr]
                    },
                    allow_redirects=False,
                    timeout=10,
                )
                continue
            answer = http.get(location, allow_redirects=False, timeout=10)
            continue
        if answer.status_code == 200 and 'name="confirm"' in answer.text:
            action, body = next(
                (action, body)
                for action, body in FORM.findall(answer.text)
                if 'name="confirm"' in body
            )
            fields = [(name, unescape(value)) for name, value in HIDDEN.findall(body)]
            answer = http.post(
                urljoin(answer.url, unescape(action)),
                data=[*fields, ("confirm", "yes")],
                allow_redirects=False,
                timeout=10,
            )
            continue
        raise AssertionError(
            f"unexpected page {answer.status_code} at {answer.url}: {answer.text[:800]}"
        )
    raise AssertionError("the authorization never led back to the client")
