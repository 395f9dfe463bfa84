"""The OpenID Provider's own endpoints: userinfo (OpenID Connect Core §5.3) and RP-initiated
logout (OpenID Connect RP-Initiated Logout 1.0). ID tokens come from the token endpoint."""

from __future__ import annotations

from flask import Response, jsonify, redirect, render_template, request, session
from flask_login import current_user, logout_user
from werkzeug.wrappers import Response as WerkzeugResponse

from app import scopes
from app.clock import utcnow
from app.errors import NO_STORE, Forbidden
from app.extensions import csrf
from app.gate.bearer import bearer_challenge
from app.identity import sessions as web_sessions
from app.identity import users
from app.oauth2.oidc import claims, logout
from app.oauth2.server import authorization
from app.oauth2.services import clients, tokens
from app.oauth2.views.blueprint import bp
from app.oauth2.views.token import bearer_token, invalid_token

LOGOUT_PARAMETERS = ("client_id", "post_logout_redirect_uri", "state")


@bp.route("/oauth/userinfo", methods=["GET", "POST"])
@csrf.exempt
def userinfo() -> Response:
    """The claims the access token's scope allows; the token in the Authorization header
    only (a token in the query string or the body is refused)."""
    now = utcnow()
    row = tokens.find_active_access_token(bearer_token(), now=now)
    if row is None or row.user_id is None:
        raise invalid_token()
    if not scopes.satisfies(row.scope, "openid"):
        raise Forbidden(
            "The access token lacks the openid scope.",
            error="insufficient_scope",
            headers={
                "WWW-Authenticate": bearer_challenge('error="insufficient_scope"', 'scope="openid"')
            },
        )
    user = users.get_user(row.user_id)
    if user is None or not user.active:
        raise invalid_token()
    response = jsonify(claims.user_claims(user, row.scope))
    response.headers.update(NO_STORE)
    return response


def _end_browser_session() -> None:
    # As the sign-out page does: the server-side session ends, so copies of the cookie die.
    web_sessions.end_web_session(session.get("sid"), now=utcnow())
    logout_user()
    session.clear()


def _logout_error(exc: logout.InvalidLogoutRequest) -> tuple[str, int]:
    page = render_template("error.html", status=400, error=exc.error, description=exc.description)
    return page, 400


def _signed_out(target: str | None) -> WerkzeugResponse | str:
    return redirect(target) if target else render_template("oidc/signed_out.html")


@bp.route("/oauth/end_session", methods=["GET", "POST"])
@csrf.exempt  # the relying party's page sends the browser here, GET or form POST
def end_session() -> WerkzeugResponse | str | tuple[str, int]:
    """Signs the browser out at once when the ID token hint names this browser's user (or
    nobody is signed in); otherwise the user confirms first, so a link alone cannot end
    somebody's session."""
    params = request.form if request.method == "POST" else request.args
    try:
        checked = logout.validate(
            id_token_hint=params.get("id_token_hint"),
            client_id=params.get("client_id"),
            post_logout_redirect_uri=params.get("post_logout_redirect_uri"),
            state=params.get("state"),
            issuer=authorization.issuer(),
            now=utcnow(),
        )
    except logout.InvalidLogoutRequest as exc:
        return _logout_error(exc)
    if not current_user.is_authenticated:
        return _signed_out(checked.redirect_to)
    if checked.subject is not None and checked.subject == str(current_user.id):
        _end_browser_session()
        return _signed_out(checked.redirect_to)
    hidden = {key: params[key] for key in LOGOUT_PARAMETERS if params.get(key)}
    if checked.client_id:
        hidden["client_id"] = checked.client_id
    client = clients.get_client(checked.client_id) if checked.client_id else None
    return render_template("oidc/end_session.html", hidden=hidden, client=client)


@bp.post("/oauth/end_session/confirm")
def end_session_confirm() -> WerkzeugResponse | str | tuple[str, int]:
    """The user's own confirmation (CSRF-protected form of the page above)."""
    try:
        checked = logout.validate(
            id_token_hint=None,
            client_id=request.form.get("client_id"),
            post_logout_redirect_uri=request.form.get("post_logout_redirect_uri"),
            state=request.form.get("state"),
            issuer=authorization.issuer(),
            now=utcnow(),
        )
    except logout.InvalidLogoutRequest as exc:
        return _logout_error(exc)
    _end_browser_session()
    return _signed_out(checked.redirect_to)
