"""Sure's mobile and desktop SSO routes (contract §1.5, §2.6, §3.4-3.6): the starts that hand
the browser to the upstream provider, the JSON exchanges the app calls afterwards (Sure's own
bodies, documented in the OpenAPI document), and the desktop exchange that signs the app's
webview in.

The callback itself is sso-core's (app.sso.views.web); it calls app.sso.services.callbacks for
the flow these starts put in the session (``sso_flow``, ``sso_device``,
``sso_code_challenge``: docs/notes sso-interface)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request, session, url_for
from marshmallow import Schema, fields
from werkzeug.wrappers import Response as BaseResponse

from app.clock import utcnow
from app.errors import NO_STORE
from app.extensions import csrf
from app.openapi import doc
from app.requestctx import current_caller, request_params
from app.sso import errors
from app.sso.services import callbacks, devices, exchanges, providers
from app.sso.services.providers import Provider
from app.web.browser import AMR_EXTERNAL, begin_browser_session

bp = Blueprint(
    "sso_mobile",
    __name__,
    template_folder="../templates",
    static_folder="../static",
    static_url_path="/sso/static",
)
OBJECT = {"type": "object"}
MFA_VERIFY_PATH = "/mfa/verify"


class SsoExchangeIn(Schema):
    code = fields.String(
        required=True, metadata={"description": "The code from sureapp://oauth/callback?code=…"}
    )


class SsoLinkIn(Schema):
    linking_code = fields.String(required=True)
    email = fields.String(required=True)
    password = fields.String(required=True)


class SsoCreateAccountIn(Schema):
    linking_code = fields.String(required=True)
    first_name = fields.String(metadata={"description": "Overrides the provider's"})
    last_name = fields.String(metadata={"description": "Overrides the provider's"})


def _text(data: dict[str, Any], key: str) -> str:
    """A string field of the body; anything else (absent, null, a number, a list) is blank."""
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _no_store(payload: dict[str, Any]) -> Response:
    response = jsonify(payload)
    response.headers.update(NO_STORE)
    return response


def _start_page(provider: Provider) -> str:
    return render_template(
        "sso_mobile/start.html", provider=provider, action=f"/auth/{provider.key}"
    )


# --- starts ---------------------------------------------------------------------------------


@bp.get("/auth/mobile/<provider>")
def mobile_start(provider: str) -> str | BaseResponse:
    """Sure's ``mobile_sso_start``: the device in the session, then an auto-submitting POST
    (with the CSRF token) to the provider's start."""
    found = providers.get_provider(provider)
    if found is None:
        return redirect(callbacks.invalid_provider_url())
    device = devices.start_device(request.args.to_dict())
    if device is None:
        return redirect(callbacks.missing_device_info_url())
    session.pop("sso_code_challenge", None)
    session["sso_flow"] = "mobile"
    session["sso_device"] = device
    return _start_page(found)


@bp.get("/auth/desktop/<provider>")
def desktop_start(provider: str) -> str | BaseResponse:
    """Sure's ``desktop_sso_start``: a well-formed S256 challenge (43 base64url characters)
    or nothing; it binds the code the callback will hand back to the app that holds the
    verifier."""
    found = providers.get_provider(provider)
    if found is None:
        return redirect(callbacks.desktop_redirect(error="invalid_provider"))
    challenge = request.args.get("code_challenge")
    if not callbacks.valid_code_challenge(challenge):
        return redirect(callbacks.desktop_redirect(error="invalid_code_challenge"))
    session.pop("sso_device", None)
    session["sso_flow"] = "desktop"
    session["sso_code_challenge"] = challenge
    return _start_page(found)


# --- the app's exchanges ---------------------------------------------------------------------


@bp.post("/api/v1/auth/sso_exchange")
@csrf.exempt
@doc(
    "Redeem a mobile SSO code (single use, 5 minutes) for Sure's token block and user (Sure)",
    response=OBJECT,
    body=SsoExchangeIn,
    tag="auth",
)
def sso_exchange() -> Response:
    data = request_params()
    return _no_store(
        exchanges.sso_exchange(_text(data, "code"), now=utcnow(), caller=current_caller())
    )


@bp.post("/api/v1/auth/sso_link")
@csrf.exempt
@doc(
    "Link an SSO identity to an existing account with its email and password, for a "
    "linking code (10 minutes); returns Sure's token block and user (Sure)",
    response=OBJECT,
    body=SsoLinkIn,
    tag="auth",
)
def sso_link() -> Response:
    data = request_params()
    return _no_store(
        exchanges.sso_link(
            _text(data, "linking_code"),
            email=_text(data, "email"),
            password=_text(data, "password"),
            now=utcnow(),
            caller=current_caller(),
        )
    )


@bp.post("/api/v1/auth/sso_create_account")
@csrf.exempt
@doc(
    "Create a password-less account for an SSO identity, for a linking code; returns Sure's "
    "token block and user (Sure)",
    response=OBJECT,
    body=SsoCreateAccountIn,
    tag="auth",
)
def sso_create_account() -> Response:
    data = request_params()
    return _no_store(
        exchanges.sso_create_account(
            _text(data, "linking_code"),
            first_name=_text(data, "first_name").strip() or None,
            last_name=_text(data, "last_name").strip() or None,
            now=utcnow(),
            caller=current_caller(),
        )
    )


# A cross-context POST from the desktop app's webview, which cannot carry a CSRF token: the
# single-use, PKCE-bound code is the protection (Sure skips forgery protection here too).
@bp.post("/sessions/desktop_exchange")
@csrf.exempt
def desktop_exchange() -> BaseResponse:
    data = request_params()
    try:
        signed = exchanges.desktop_exchange(
            _text(data, "code"),
            _text(data, "code_verifier"),
            now=utcnow(),
            caller=current_caller(),
        )
    except errors.DesktopExchangeRefused:
        return redirect(url_for("web.login"))
    if signed.second_factor_required:
        session["mfa_pending"] = {
            "user_id": str(signed.user.id),
            "first": AMR_EXTERNAL,
            "next": "/",
        }
        return redirect(MFA_VERIFY_PATH)
    begin_browser_session(signed.user, amr=[AMR_EXTERNAL])
    return redirect("/")
