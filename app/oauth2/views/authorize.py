"""The authorization endpoint (RFC 6749 §4.1.1, RFC 9207, OpenID Connect Core §3.1.2):
the consent page and the decision."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oidc.core.errors import (
    ConsentRequiredError,
    InteractionRequiredError,
    LoginRequiredError,
)
from flask import Response, redirect, render_template, request, session, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as WerkzeugResponse

from app import crypto, scopes
from app.clock import epoch, utcnow
from app.oauth2 import resource_indicators
from app.oauth2.grants import Authentication, AuthorizationCodeGrant
from app.oauth2.oidc import authorizations
from app.oauth2.server import authorization
from app.oauth2.services import applications, clients
from app.oauth2.views.blueprint import BAD_CHARACTERS, bp
from app.requestctx import current_caller

SCOPE_DESCRIPTIONS = {
    "read": "Read your data",
    "read_write": "Read and change your data",
    "openid": "Sign you in: confirm who you are (an identifier that never changes)",
    "profile": "See your name",
    "email": "See your email address",
}
# OpenID Connect request parameters the consent form carries to the decision, and the mark a
# browser sent to sign in again comes back with: which browser session it had then (a digest),
# so only a sign-in after the request (a new session) satisfies it.
REAUTH_FROM = "reauth_from"
OIDC_PARAMETERS = ("nonce", "prompt", "max_age", "login_hint", REAUTH_FROM)


# --- authorization endpoint (RFC 6749 §4.1.1) ------------------------------------------------


def _with_issuer(response: Response) -> Response:
    """RFC 9207: every authorization response carries ``iss``."""
    if response.location:
        response.location = add_params_to_uri(response.location, [("iss", authorization.issuer())])
    return response


def _authorization_error(error: OAuth2Error) -> Response:
    """Errors that can go back to a verified redirect URI are redirected (with ``state`` and
    ``iss``); an unknown client or an unregistered redirect URI gets a page, never a
    redirect (RFC 6749 §4.1.2.1). So does any error for a dynamically registered client:
    anyone can register one with any https URI, and a malformed request must not make this
    server an open redirector (RFC 9700 §4.11.2)."""
    client = clients.get_client(_params().get("client_id"))
    trusted = client is not None and not client.dynamically_registered
    if error.redirect_uri and trusted:
        response: Response = authorization.handle_error_response(None, error)
        return _with_issuer(response)
    body = render_template(
        "error.html",
        status=400,
        error=error.error,
        description=error.description or "The authorization request is invalid.",
    )
    return Response(body, status=400, mimetype="text/html")


def _consent_grant(*, signed_in: bool = True) -> AuthorizationCodeGrant:
    """Authlib echoes some parameters (response_type, grant_type) into error descriptions and
    raises ValueError when they hold characters RFC 6749 forbids there; that is the caller's
    malformed request, not a server error. ``signed_in=False`` validates the request for
    nobody (``prompt=none`` without a session: Authlib answers ``login_required``)."""
    end_user = current_user._get_current_object() if signed_in else None
    try:
        # response_type=code is the only one registered: the grant is always ours.
        grant: AuthorizationCodeGrant = authorization.get_consent_grant(end_user=end_user)
    except ValueError as exc:
        if "forbidden characters" not in str(exc):
            raise
        raise InvalidRequestError(BAD_CHARACTERS) from exc
    return grant


def _params() -> MultiDict[str, str]:
    return request.form if request.method == "POST" else request.args  # as the grant reads


def _login_redirect(*, fresh: bool = False) -> WerkzeugResponse:
    """To the sign-in page and back. ``fresh`` (``prompt=login``, ``max_age``): the page asks
    even a signed-in browser, and the way back says the sign-in must be newer than now."""
    params = _params()
    if request.method != "GET":
        next_path = "/"
    elif fresh:
        kept = [
            (key, value)
            for key, value in request.args.items(multi=True)
            if key not in ("prompt", REAUTH_FROM)
        ]
        prompts = [p for p in _prompts() if p != "login"]
        if prompts:
            kept.append(("prompt", " ".join(prompts)))
        kept.append((REAUTH_FROM, _session_mark()))
        next_path = f"{request.path}?{urlencode(kept)}"
    else:
        next_path = request.full_path.rstrip("?")
    query: dict[str, str] = {"next": next_path}
    if params.get("login_hint"):
        query["login_hint"] = params["login_hint"]
    if fresh:
        query["prompt"] = "login"
    return redirect(f"{url_for('web.login')}?{urlencode(query)}")


def _prompts() -> list[str]:
    return (_params().get("prompt") or "").split()


def _auth_time() -> int | None:
    value = session.get("auth_time")
    return value if isinstance(value, int) else None


def _session_mark() -> str:
    """Names this browser's sign-in without revealing it: every sign-in starts a new server-side
    session (``begin_browser_session``), so a new sign-in has a new mark."""
    sid = session.get("sid") if current_user.is_authenticated else None
    return crypto.digest(str(sid))[:16] if sid else "none"


def _needs_fresh_sign_in() -> bool:
    """OpenID Connect Core §3.1.2.1: ``prompt=login`` asks for a sign-in newer than the
    request, ``max_age`` for one no older than that many seconds. A browser sent to sign in
    comes back with ``REAUTH_FROM``, which only a sign-in made since satisfies."""
    params = _params()
    mark = params.get(REAUTH_FROM)
    if mark:
        return not current_user.is_authenticated or crypto.constant_time_equals(
            mark, _session_mark()
        )
    if "login" in _prompts():
        return True
    max_age = params.get("max_age", "")
    if max_age.isdigit():
        auth_time = _auth_time()
        return auth_time is None or auth_time + int(max_age) < epoch(utcnow())
    return False


def _prompt_none_error(grant: AuthorizationCodeGrant) -> OAuth2Error | None:
    """``prompt=none`` for a signed-in user: the error to send back when anything would need
    the user (a fresh sign-in, another account, a consent not given before), else None."""
    state = grant.request.payload.state
    if _needs_fresh_sign_in():
        return LoginRequiredError(redirect_uri=grant.redirect_uri, state=state)
    hint = _params().get("login_hint")
    if hint and hint.strip().lower() != current_user.email.lower():
        return InteractionRequiredError(redirect_uri=grant.redirect_uri, state=state)
    if not authorizations.has_live_authorization(
        current_user.id, grant.client.client_id, grant.request.scope, now=utcnow()
    ):
        return ConsentRequiredError(redirect_uri=grant.redirect_uri, state=state)
    return None


def _authorize_for_current_user(grant: AuthorizationCodeGrant, *, approved: bool) -> Response:
    """Record the user's answer and answer the client; a code carries how and when this
    browser signed in (the ID token's ``auth_time`` and ``amr``)."""
    applications.record_consent(
        current_user,
        grant.client.client_id,
        grant.request.scope,
        approved=approved,
        now=utcnow(),
        caller=current_caller(),
    )
    auth_time = _auth_time()
    grant.request.authentication = Authentication(
        authenticated_at=(
            datetime.fromtimestamp(auth_time, UTC).replace(tzinfo=None)
            if auth_time is not None
            else None
        ),
        amr=[str(method) for method in session.get("amr") or []],
    )
    response: Response = authorization.create_authorization_response(
        grant=grant, grant_user=current_user._get_current_object() if approved else None
    )
    return _with_issuer(response)


@bp.get("/oauth/authorize")
def authorize() -> WerkzeugResponse | str:
    if not current_user.is_authenticated:
        if "none" not in _prompts():
            # Any sign-in from here on is fresh: the way back must not ask for another.
            return _login_redirect(fresh=_needs_fresh_sign_in())
        try:
            grant = _consent_grant(signed_in=False)
        except OAuth2Error as error:
            return _authorization_error(error)
        # Not an OpenID request (Authlib's prompt check did not run): the same answer.
        return _authorization_error(
            LoginRequiredError(redirect_uri=grant.redirect_uri, state=grant.request.payload.state)
        )
    try:
        grant = _consent_grant()
    except OAuth2Error as error:
        return _authorization_error(error)
    if "none" in _prompts():
        refusal = _prompt_none_error(grant)
        if refusal is not None:
            return _authorization_error(refusal)
        return _authorize_for_current_user(grant, approved=True)
    if _needs_fresh_sign_in():
        return _login_redirect(fresh=True)
    client = grant.client
    hidden = {
        key: request.args[key]
        for key in (
            "client_id",
            "redirect_uri",
            "response_type",
            "scope",
            "state",
            "code_challenge",
            "code_challenge_method",
            "display",
            *OIDC_PARAMETERS,
        )
        if key in request.args
    }
    requested = scopes.to_list(grant.request.scope)
    return render_template(
        "consent.html",
        client=client,
        hidden=hidden,
        scopes=[(name, SCOPE_DESCRIPTIONS.get(name, name)) for name in requested],
        user=current_user,
        redirect_host=(grant.redirect_uri or "").split("?")[0],
        resources=resource_indicators.authorized(grant.request),  # RFC 8707, validated
    )


@bp.post("/oauth/authorize")
def authorize_decision() -> WerkzeugResponse:
    if not current_user.is_authenticated:
        return _login_redirect()
    try:
        grant = _consent_grant()
    except OAuth2Error as error:
        return _authorization_error(error)
    if _needs_fresh_sign_in():
        return _authorization_error(
            LoginRequiredError(redirect_uri=grant.redirect_uri, state=grant.request.payload.state)
        )
    return _authorize_for_current_user(grant, approved=request.form.get("confirm") == "yes")
