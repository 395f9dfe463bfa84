"""Sure's Flutter client (we-promise/sure, mobile/lib/services/, commit 0252787d) replayed
against Tollgate through the Flask test client: every request built as its Dart code builds
it — path, query, headers, JSON body — and every answer taken down the same branch the Dart
code takes, parsed with the ports in ``dart_models``.

What ``package:http`` adds on the wire is added here too: a ``String`` body sets the
``Content-Type`` charset (``application/json; charset=utf-8``), ``dart:io`` sends its
user agent and ``Accept-Encoding: gzip``; a request without a body (``enableAi``'s PATCH)
keeps the bare ``application/json`` it was given and a zero length. GET requests follow
redirects (``followRedirects`` defaults to true, five hops), as the test-connection probe does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.sure_mobile.dart_models import (
    Account,
    AuthTokens,
    FormatException,
    User,
    as_map,
    parse_accounts,
    parse_response_user,
)

DART_USER_AGENT = "Dart/3.7 (dart:io)"
APP_VERSION = "0.6.9"  # mobile/pubspec.yaml "version: 0.6.9+20260402"; PackageInfo.version


def device_info(platform: str = "ios") -> dict[str, str]:
    """DeviceService.getDeviceInfo (device_service.dart:9-27) on a phone: the generated id
    (``sure_mobile_<ms>_<hash>``, :29-34), the platform's name and type (:36-66), the OS
    version string dart:io reports and the package version."""
    names = {"ios": "iOS Device", "android": "Android Device", "web": "Web Browser"}
    os_versions = {
        "ios": "Version 17.5.1 (Build 21F90)",
        "android": "AP2A.240805.005",
        "web": "web",  # device_service.dart:69-71
    }
    return {
        "device_id": "sure_mobile_1764770000000_482913377",
        "device_name": names[platform],
        "device_type": platform,
        "os_version": os_versions[platform],
        "app_version": APP_VERSION,
    }


def dart_json_encode(value: Any) -> bytes:
    """``jsonEncode``: compact, non-ASCII kept, sent as UTF-8."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def dart_json_decode(response: TestResponse) -> Any:
    """``jsonDecode(response.body)``: a body that is not JSON throws FormatException."""
    try:
        return json.loads(response.get_data(as_text=True))
    except ValueError as exc:
        raise FormatException(str(exc)) from exc


@dataclass
class FlutterApp:
    """One installed app: its backend (the test client), its custom proxy headers, and what
    its secure storage holds after each call (tokens, user, API key)."""

    client: FlaskClient
    custom_proxy_headers: dict[str, str] = field(default_factory=dict)
    api_key: str | None = None
    stored_tokens: dict[str, Any] | None = None
    stored_user: dict[str, Any] | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)

    # --- mobile/lib/services/api_config.dart ----------------------------------------------

    def json_headers(self) -> dict[str, str]:  # api_config.dart:54-60
        return {
            **self.custom_proxy_headers,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    def html_headers(self) -> dict[str, str]:  # api_config.dart:62-67
        return {**self.custom_proxy_headers, "Accept": "text/html"}

    def get_auth_headers(self, token: str) -> dict[str, str]:  # api_config.dart:72-85
        if self.api_key is not None:
            return {
                **self.custom_proxy_headers,
                "X-Api-Key": self.api_key,
                "Accept": "application/json",
            }
        return {
            **self.custom_proxy_headers,
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
        }

    # --- package:http ---------------------------------------------------------------------

    def _send(
        self, method: str, url: str, headers: dict[str, str], body: Any = None
    ) -> TestResponse:
        wire = {"User-Agent": DART_USER_AGENT, "Accept-Encoding": "gzip", **headers}
        data = b""
        if body is not None:
            data = dart_json_encode(body)
            if "Content-Type" in wire and "charset" not in wire["Content-Type"]:
                wire["Content-Type"] += "; charset=utf-8"  # Request.body's setter
        self.sent.append({"method": method, "url": url, "headers": dict(wire), "body": data})
        content_type = wire.pop("Content-Type", None)
        return self.client.open(
            url,
            method=method,
            headers=wire,
            data=data,
            content_type=content_type,
            follow_redirects=method == "GET",
        )

    # --- mobile/lib/services/auth_service.dart --------------------------------------------

    def login(
        self, email: str, password: str, device: dict[str, str], otp_code: str | None = None
    ) -> dict[str, Any]:
        """AuthService.login (auth_service.dart:87-182)."""
        body: dict[str, Any] = {"email": email, "password": password, "device": device}
        if otp_code is not None:
            body["otp_code"] = otp_code  # :102-104
        response = self._send("POST", "/api/v1/auth/login", self.json_headers(), body)
        data = dart_json_decode(response)  # :119
        if response.status_code == 200:
            tokens = AuthTokens.from_json(data)  # :122
            user = parse_response_user(data)  # :123
            self._save_session(tokens, user)
            return {"success": True, "tokens": tokens, "user": user, "response": response}
        if response.status_code == 401 and data.get("mfa_required") is True:  # :132-138
            return {"success": False, "mfa_required": True, "error": data["error"]}
        return {"success": False, "error": _response_error_message(data, "Login failed")}

    def signup(
        self,
        email: str,
        password: str,
        first_name: str,
        last_name: str,
        device: dict[str, str],
        invite_code: str | None = None,
    ) -> dict[str, Any]:
        """AuthService.signup (auth_service.dart:184-273): success is a 201."""
        body: dict[str, Any] = {
            "user": {
                "email": email,
                "password": password,
                "first_name": first_name,
                "last_name": last_name,
            },
            "device": device,
        }
        if invite_code is not None:
            body["invite_code"] = invite_code
        response = self._send("POST", "/api/v1/auth/signup", self.json_headers(), body)
        data = dart_json_decode(response)
        if response.status_code == 201:  # :219
            tokens = AuthTokens.from_json(data)
            user = parse_response_user(data)
            self._save_session(tokens, user)
            return {"success": True, "tokens": tokens, "user": user}
        return {"success": False, "error": _response_error_message(data, "Signup failed")}

    def refresh_token(self, refresh_token: str, device: dict[str, str]) -> dict[str, Any]:
        """AuthService.refreshToken (auth_service.dart:275-346)."""
        body = {"refresh_token": refresh_token, "device": device}
        response = self._send("POST", "/api/v1/auth/refresh", self.json_headers(), body)
        data = dart_json_decode(response)
        if response.status_code == 200:
            tokens = AuthTokens.from_json(data)  # :296
            self.stored_tokens = tokens.to_json()
            return {"success": True, "tokens": tokens}
        return {"success": False, "error": data.get("error") or "Token refresh failed"}

    def login_with_api_key(self, api_key: str) -> dict[str, Any]:
        """AuthService.loginWithApiKey (auth_service.dart:348-401): the key is good when
        GET /api/v1/accounts answers 200."""
        headers = {**self.custom_proxy_headers, "X-Api-Key": api_key, "Accept": "application/json"}
        response = self._send("GET", "/api/v1/accounts", headers)
        if response.status_code == 200:
            self.api_key = api_key  # _saveApiKey; ApiConfig.setApiKeyAuth
            return {"success": True}
        if response.status_code == 401:
            return {"success": False, "error": "Invalid API key"}
        return {"success": False, "error": f"Login failed (status {response.status_code})"}

    def build_sso_url(self, provider: str, device: dict[str, str]) -> str:
        """AuthService.buildSsoUrl (auth_service.dart:403-417): the five device fields as
        ``Uri.replace(queryParameters:)`` encodes them (space as +)."""
        params = {
            key: device[key]
            for key in ("device_id", "device_name", "device_type", "os_version", "app_version")
        }
        return f"/auth/mobile/{provider}?" + urlencode(params, quote_via=quote_plus)

    def handle_sso_callback(self, uri: str) -> dict[str, Any]:
        """AuthService.handleSsoCallback (auth_service.dart:419-511)."""
        params = dict(parse_qsl(urlsplit(uri).query, keep_blank_values=True))
        if params.get("status") == "account_not_linked":  # :423-434
            return {
                "success": False,
                "account_not_linked": True,
                "linking_code": params.get("linking_code", ""),
                "email": params.get("email", ""),
                "first_name": params.get("first_name", ""),
                "last_name": params.get("last_name", ""),
                "allow_account_creation": params.get("allow_account_creation") == "true",
                "has_pending_invitation": params.get("has_pending_invitation") == "true",
            }
        if "error" in params:  # :436-441
            return {"success": False, "error": params.get("message") or params["error"]}
        code = params.get("code")
        if not code:
            return {"success": False, "error": "Invalid SSO callback response"}
        response = self._send(
            "POST", "/api/v1/auth/sso_exchange", self.json_headers(), {"code": code}
        )
        data = dart_json_decode(response)
        if response.status_code != 200:  # :462-468
            return {"success": False, "error": data.get("message") or "Token exchange failed"}
        data = as_map(data)
        tokens = AuthTokens.from_json(  # :472-478: defaults for the optional three
            {
                "access_token": data.get("access_token"),
                "refresh_token": data.get("refresh_token"),
                "token_type": data.get("token_type")
                if data.get("token_type") is not None
                else "Bearer",
                "expires_in": data.get("expires_in") if data.get("expires_in") is not None else 0,
                "created_at": data.get("created_at") if data.get("created_at") is not None else 0,
            }
        )
        user = parse_response_user(data)  # :480-483
        if user is None:
            raise FormatException("Missing user payload")
        self._save_session(tokens, user)
        return {"success": True, "tokens": tokens, "user": user}

    def sso_link(self, linking_code: str, email: str, password: str) -> dict[str, Any]:
        """AuthService.ssoLink (auth_service.dart:513-562)."""
        body = {"linking_code": linking_code, "email": email, "password": password}
        response = self._send("POST", "/api/v1/auth/sso_link", self.json_headers(), body)
        return self._session_answer(response, "Account linking failed")

    def sso_create_account(
        self, linking_code: str, first_name: str | None = None, last_name: str | None = None
    ) -> dict[str, Any]:
        """AuthService.ssoCreateAccount (auth_service.dart:564-616): names only when given."""
        body: dict[str, Any] = {"linking_code": linking_code}
        if first_name is not None:
            body["first_name"] = first_name
        if last_name is not None:
            body["last_name"] = last_name
        response = self._send("POST", "/api/v1/auth/sso_create_account", self.json_headers(), body)
        return self._session_answer(response, "Account creation failed")

    def _session_answer(self, response: TestResponse, fallback: str) -> dict[str, Any]:
        """The 200 branch both SSO onboarding calls share (auth_service.dart:534-550,
        :588-605): AuthTokens.fromJson on the body, then _parseResponseUser."""
        data = dart_json_decode(response)
        if response.status_code == 200:
            tokens = AuthTokens.from_json(data)
            user = parse_response_user(data)
            self._save_session(tokens, user)
            return {"success": True, "tokens": tokens, "user": user}
        return {"success": False, "error": _response_error_message(data, fallback)}

    def enable_ai(self, access_token: str) -> dict[str, Any]:
        """AuthService.enableAi (auth_service.dart:618-654): a PATCH without a body."""
        headers = {**self.get_auth_headers(access_token), "Content-Type": "application/json"}
        response = self._send("PATCH", "/api/v1/auth/enable_ai", headers)
        data = dart_json_decode(response)
        if response.status_code == 200:
            user = User.from_json(data["user"])  # :635
            self.stored_user = user.to_json()
            return {"success": True, "user": user}
        return {"success": False, "error": _response_error_message(data, "Failed to enable AI")}

    def logout(self) -> None:
        """AuthService.logout (auth_service.dart:656-661): local only, no request."""
        self.stored_tokens = self.stored_user = self.api_key = None

    def _save_session(self, tokens: AuthTokens, user: User | None) -> None:
        self.stored_tokens = tokens.to_json()
        if user is not None:
            self.stored_user = user.to_json()

    def stored(self) -> tuple[AuthTokens, User]:
        """getStoredTokens / getStoredUser (auth_service.dart:663-683): what the next start
        of the app reads back."""
        assert self.stored_tokens is not None and self.stored_user is not None
        return AuthTokens.from_json(self.stored_tokens), User.from_json(self.stored_user)

    # --- mobile/lib/services/accounts_service.dart ----------------------------------------

    def get_accounts(self, access_token: str, page: int = 1, per_page: int = 25) -> dict[str, Any]:
        """AccountsService.getAccounts (accounts_service.dart:7-53)."""
        url = f"/api/v1/accounts?page={page}&per_page={per_page}"  # :13-15
        response = self._send("GET", url, self.get_auth_headers(access_token))
        if response.status_code == 200:
            accounts, pagination = parse_accounts(dart_json_decode(response))
            return {"success": True, "accounts": accounts, "pagination": pagination}
        if response.status_code == 401:
            return {"success": False, "error": "unauthorized"}
        data = dart_json_decode(response)
        return {"success": False, "error": data.get("error") or "Failed to fetch accounts"}

    # --- mobile/lib/services/account_detail_service.dart ----------------------------------

    def get_account_detail(self, access_token: str, account_id: str) -> dict[str, Any]:
        """AccountDetailService.getAccountDetail (account_detail_service.dart:26-46): the id
        through Uri.encodeComponent, the body straight into Account.fromJson."""
        url = f"/api/v1/accounts/{quote(account_id, safe='')}"
        response = self._send("GET", url, self.get_auth_headers(access_token))
        if response.status_code == 200:
            return {"success": True, "account": Account.from_json(dart_json_decode(response))}
        return {"success": False, "status": response.status_code}

    # --- mobile/lib/services/user_service.dart --------------------------------------------

    def reset_account(self, access_token: str) -> dict[str, Any]:
        """UserService.resetAccount (user_service.dart:6-37): success is a 200."""
        response = self._send("DELETE", "/api/v1/users/reset", self.get_auth_headers(access_token))
        return _user_service_result(response, "Failed to reset account")

    def delete_account(self, access_token: str) -> dict[str, Any]:
        """UserService.deleteAccount (user_service.dart:39-70): success is a 200."""
        response = self._send("DELETE", "/api/v1/users/me", self.get_auth_headers(access_token))
        return _user_service_result(response, "Failed to delete account")

    # --- mobile/lib/screens/backend_config_screen.dart ------------------------------------

    def test_connection(self, base_url_path: str = "") -> dict[str, Any]:
        """_testConnection (backend_config_screen.dart:70-132): GET <url>/sessions/new with
        the HTML headers; any 2xx or 3xx (after redirects) is "a Sure backend"."""
        response = self._send("GET", f"{base_url_path}/sessions/new", self.html_headers())
        ok = 200 <= response.status_code < 400
        return {"success": ok, "status": response.status_code, "response": response}


def _response_error_message(data: Any, fallback: str) -> str:
    """AuthService._responseErrorMessage (auth_service.dart:18-57), for the shapes we send."""
    if not isinstance(data, dict):
        return fallback
    for key in ("error", "errors"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, list):
            joined = ", ".join(str(v) for v in value if str(v).strip())
            if joined:
                return joined
    return fallback


def _user_service_result(response: TestResponse, fallback: str) -> dict[str, Any]:
    if response.status_code == 200:
        return {"success": True}
    if response.status_code == 401:
        return {"success": False, "error": "Session expired. Please login again."}
    return {"success": False, "error": dart_json_decode(response).get("error") or fallback}
