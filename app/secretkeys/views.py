"""SureCloud secret keys over HTTP.

``bp`` (JSON, CSRF checked by the gate for cookie writes):
- ``POST /api/v1/auth/token`` (and ``/auth/token``): ``X-email`` + ``X-client-secret`` -> a
  JWT, text/plain unless JSON is asked for (reference C26); errors always JSON;
- the Secret Key Administrators' API under ``/api/v1/admin/`` (their own tenant only);
- ``POST /api/v1/secret_key/reveal``: the JSON reveal, browser session only.

``pages_bp`` (HTML, browser session only, never a bearer JWT): the Reveal Secret page.

``admin_pages_bp`` (HTML, browser session only): the Secret Key Administrators' pages under
``/admin/secret_keys``, on the same services as the JSON API.
"""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    get_flashed_messages,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf.csrf import CSRFError, validate_csrf
from flask_wtf.csrf import ValidationError as CSRFTokenInvalid
from werkzeug.wrappers import Response as WerkzeugResponse

from app.clock import rfc3339, utcnow
from app.errors import NO_STORE, BadRequest, Forbidden, NotFound, TollgateError
from app.extensions import csrf
from app.gate import current_principal, current_principal_user, require
from app.identity.grants import granted_permissions
from app.identity.models import User
from app.identity.roles import permissions_for
from app.mail import services as mail
from app.openapi import doc
from app.requestctx import current_caller, request_base_url
from app.secretkeys import schemas
from app.secretkeys.errors import (
    InactiveUser,
    KeyAlreadyRevealed,
    NoSecretKey,
    RevealLinkGone,
    RevealRefused,
    SecretKeyExists,
    SecretKeyNotFound,
)
from app.secretkeys.models import SecretKeyToken
from app.secretkeys.restrictions import InvalidRestrictions
from app.secretkeys.services import ip_restrictions, keys, reveal, tokens

bp = Blueprint("secretkeys", __name__)
pages_bp = Blueprint(
    "secretkey_pages", __name__, static_folder="static", static_url_path="/secret_key/static"
)

NO_REFERRER = {"Referrer-Policy": "no-referrer"}
RESTRICTIONS_IN = schemas.RestrictionsIn()
REVEAL_IN = schemas.RevealIn()
PAGE_QUERY = schemas.SecretKeyListQuery()
# Secret Key Administrators, within their own tenant, in person: a browser session or the
# user's own token (a first-party app's, or their own secret-key JWT); never an API key or a
# third-party app (credential-minting routes, reference §3.6).
administer = functools.partial(
    require, permission="secret_keys.manage", user_required=True, first_party_only=True
)


def _deliver_mail() -> None:
    """Send what the service just committed to the outbox (never raises)."""
    mail.deliver_pending(now=utcnow())


# --- the token endpoint -----------------------------------------------------------------------


def _wants_json() -> bool:
    accept = request.accept_mimetypes
    if not accept:
        return False
    return accept.best_match(["text/plain", "application/json"]) == "application/json"


def _json_error(exc: TollgateError) -> Response:
    # Always JSON, also at /auth/token (outside /api, where errors would otherwise be pages).
    response = jsonify({"error": exc.error, "message": exc.description, **exc.extra})
    response.status_code = exc.status
    response.headers.update(exc.headers)
    response.headers.update(NO_STORE)
    return response


@bp.post("/api/v1/auth/token")
@bp.post("/auth/token")
@doc(
    "Exchange an email and secret key (X-email, X-client-secret headers) for a JWT; "
    "text/plain unless Accept: application/json",
    response=schemas.TokenOut,
    tag="secret_keys",
)
def token() -> Response:
    try:
        email = (request.headers.get("X-email") or "").strip()
        secret = (request.headers.get("X-client-secret") or "").strip()
        if not email or not secret:
            raise BadRequest("The X-email and X-client-secret headers are required")
        issued = tokens.issue_token(email, secret, now=utcnow(), caller=current_caller())
    except TollgateError as exc:
        return _json_error(exc)
    if _wants_json():
        response = jsonify(
            token=issued.token,
            token_type="Bearer",
            expires_in=issued.expires_in,
            expires_at=rfc3339(issued.expires_at),
        )
    else:
        response = Response(issued.token, mimetype="text/plain")
    response.headers.update(NO_STORE)
    return response


# --- administration (Secret Key Administrators) ----------------------------------------------


def _target(user_id: str) -> User:
    return keys.family_user(user_id, current_principal().family_id)


def _actor_id() -> uuid.UUID:
    return current_principal_user().id


@bp.get("/api/v1/admin/secret_keys")
@administer(scope="read")
@doc(
    "Users of your tenant and their secret key status (Secret Key Administrators)",
    response=schemas.UserKeyPage,
    query=schemas.SecretKeyListQuery,
    tag="secret_keys",
)
def index() -> Response:
    query = PAGE_QUERY.load(request.args.to_dict())
    listing = keys.list_family_keys(
        current_principal().family_id, page=query["page"], per_page=query["per_page"]
    )
    return jsonify(
        schemas.UserKeyPage().dump(
            {
                "users": listing.rows,
                "pagination": {
                    "page": listing.page,
                    "per_page": listing.per_page,
                    "total_count": listing.total_count,
                    "total_pages": max(1, math.ceil(listing.total_count / listing.per_page)),
                },
            }
        )
    )


def _mail_reveal_link(send: Callable[..., keys.LinkSent], user_id: str) -> Response:
    """Add a key or re-send its link (``send``), then deliver the mail it enqueued."""
    sent = send(
        _target(user_id),
        actor_id=_actor_id(),
        now=utcnow(),
        caller=current_caller(),
        request_base_url=request_base_url(),
    )
    _deliver_mail()
    return jsonify(schemas.LinkSentOut().dump(sent))


@bp.post("/api/v1/admin/users/<user_id>/secret_key")
@administer(scope="write")
@doc(
    "Add a secret key for a user: mails them a reveal link (the key is never in a response)",
    response=schemas.LinkSentOut,
    status=201,
    tag="secret_keys",
)
def create(user_id: str) -> tuple[Response, int]:
    return _mail_reveal_link(keys.add_secret_key, user_id), 201


@bp.delete("/api/v1/admin/users/<user_id>/secret_key")
@administer(scope="write")
@doc(
    "Revoke a user's secret key: every JWT issued for it stops working at once",
    response=schemas.RevokedOut,
    tag="secret_keys",
)
def revoke(user_id: str) -> Response:
    user = _target(user_id)
    keys.revoke_secret_key(user, actor_id=_actor_id(), now=utcnow(), caller=current_caller())
    return jsonify(schemas.RevokedOut().dump({"user_id": user.id, "status": "revoked"}))


@bp.post("/api/v1/admin/users/<user_id>/secret_key/reveal_link")
@administer(scope="write")
@doc(
    "Mail a new reveal link (earlier links stop working); 409 once the key was revealed",
    response=schemas.LinkSentOut,
    status=202,
    tag="secret_keys",
)
def resend(user_id: str) -> tuple[Response, int]:
    return _mail_reveal_link(keys.resend_reveal_link, user_id), 202


@bp.get("/api/v1/admin/users/<user_id>/secret_key/tokens")
@administer(scope="read")
@doc(
    "The JWTs issued for a user that have not expired, by id (never the JWTs)",
    response=schemas.IssuedTokenList,
    tag="secret_keys",
)
def issued_tokens(user_id: str) -> Response:
    rows = tokens.list_tokens(_target(user_id), now=utcnow())
    listed = [
        {
            "jti": row.jti,
            "status": "revoked" if row.revoked_at else "active",
            "issued_at": row.issued_at,
            "expires_at": row.expires_at,
            "revoked_at": row.revoked_at,
        }
        for row in rows
    ]
    return jsonify(schemas.IssuedTokenList().dump({"tokens": listed}))


@bp.post("/api/v1/admin/secret_key_tokens/<jti>/revoke")
@administer(scope="write")
@doc(
    "Revoke one issued JWT of your tenant; it stops working at once",
    response=schemas.IssuedTokenOut,
    tag="secret_keys",
)
def revoke_token(jti: str) -> Response:
    row = tokens.revoke_token(
        jti,
        family_id=current_principal().family_id,
        actor_id=_actor_id(),
        now=utcnow(),
        caller=current_caller(),
    )
    return jsonify(
        schemas.IssuedTokenOut().dump(
            {
                "jti": row.jti,
                "status": "revoked",
                "issued_at": row.issued_at,
                "expires_at": row.expires_at,
                "revoked_at": row.revoked_at,
            }
        )
    )


def _restrictions(found: ip_restrictions.Restrictions) -> Response:
    return jsonify(schemas.RestrictionsOut().dump(found))


@bp.get("/api/v1/admin/users/<user_id>/ip_restrictions")
@administer(scope="read")
@doc(
    "A user's IP restrictions (409 while the user has no secret key)",
    response=schemas.RestrictionsOut,
    tag="secret_keys",
)
def restrictions_show(user_id: str) -> Response:
    return _restrictions(ip_restrictions.get_restrictions(_target(user_id)))


@bp.put("/api/v1/admin/users/<user_id>/ip_restrictions")
@administer(scope="write")
@doc(
    "Replace a user's IP restrictions; they apply to the user's JWTs from the next request",
    response=schemas.RestrictionsOut,
    body=schemas.RestrictionsIn,
    tag="secret_keys",
)
def restrictions_update(user_id: str) -> Response:
    user = _target(user_id)
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise BadRequest('Send a JSON object: {"restrictions": "..."}')
    value = RESTRICTIONS_IN.load(payload)["restrictions"]
    found = ip_restrictions.set_restrictions(
        user, value, actor_id=_actor_id(), now=utcnow(), caller=current_caller()
    )
    return _restrictions(found)


# --- revealing: JSON (browser session) ---------------------------------------------------------


@bp.post("/api/v1/secret_key/reveal")
@require(credentials=("session",), user_required=True)
@doc(
    "Reveal your secret key with a mailed link's token (browser session and CSRF token "
    "only); the key is in this response only",
    response=schemas.RevealOut,
    body=schemas.RevealIn,
    tag="secret_keys",
)
def reveal_json() -> Response:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise BadRequest('Send a JSON object: {"token": "..."}')
    link_token = REVEAL_IN.load(payload)["token"]
    user = current_principal_user()
    try:
        key = reveal.reveal(link_token, user_id=user.id, now=utcnow(), caller=current_caller())
    except TollgateError as exc:
        exc.headers.update({**NO_STORE, **NO_REFERRER})
        raise
    response = jsonify(schemas.RevealOut().dump({"user_id": user.id, "secret_key": key}))
    response.headers.update({**NO_STORE, **NO_REFERRER})
    return response


# --- revealing: the Reveal Secret page -------------------------------------------------------


@pages_bp.after_request
def _reveal_headers(response: WerkzeugResponse) -> WerkzeugResponse:
    """Every response of the reveal pages (errors and redirects included): never stored, and
    the link's token never leaves in a Referer (T3). app.headers keeps a view's values."""
    response.headers.update(NO_STORE)
    response.headers.update(NO_REFERRER)
    return response


def _sign_in_first() -> WerkzeugResponse:
    return redirect(url_for("web.login", next=request.path))


def _signed_in_user() -> User | None:
    if not current_user.is_authenticated:
        return None
    user: User = current_user._get_current_object()
    return user


def _refusal(exc: TollgateError) -> tuple[str, int]:
    template = "gone.html" if isinstance(exc, RevealLinkGone) else "refused.html"
    return render_template(f"secretkeys/{template}", message=exc.description), exc.status


def _check_form_csrf() -> None:
    """The reveal pages send ``Referrer-Policy: no-referrer`` (T3), so a browser posts their
    form with ``Origin: null`` and no Referer, which the site-wide same-origin check
    (extensions.SameOriginCSRFProtect) must refuse. Here ``null`` is accepted only when the
    browser's own Fetch Metadata says the form came from this origin
    (``Sec-Fetch-Site: same-origin``, a header pages cannot forge); the session-bound CSRF
    token is required either way. Any other request gets the full site-wide check."""
    if (
        request.headers.get("Origin") == "null"
        and request.headers.get("Sec-Fetch-Site") == "same-origin"
    ):
        try:
            validate_csrf(request.form.get("csrf_token"))
        except CSRFTokenInvalid as exc:
            raise CSRFError(exc.args[0] if exc.args else "CSRF check failed") from None
        return
    csrf.protect()


@pages_bp.get("/secret_key/reveal/<token>")
def reveal_page(token: str) -> WerkzeugResponse | str | tuple[str, int]:
    """The confirmation page: a GET never consumes the link (mail scanners follow links)."""
    user = _signed_in_user()
    if user is None:
        return _sign_in_first()
    try:
        reveal.check_reveal_link(token, user_id=user.id, now=utcnow())
    except (RevealRefused, RevealLinkGone) as exc:
        return _refusal(exc)
    return render_template(
        "secretkeys/confirm.html",
        user=user,
        product=current_app.config["MAIL_PRODUCT_NAME"],
        action=url_for("secretkey_pages.reveal_submit", token=token),
    )


@pages_bp.post("/secret_key/reveal/<token>")
@csrf.exempt  # checked by _check_form_csrf: see there why the site-wide check cannot be used
def reveal_submit(token: str) -> WerkzeugResponse | str | tuple[str, int]:
    user = _signed_in_user()
    if user is None:
        return _sign_in_first()
    _check_form_csrf()
    try:
        key = reveal.reveal(token, user_id=user.id, now=utcnow(), caller=current_caller())
    except (RevealRefused, RevealLinkGone) as exc:
        return _refusal(exc)
    return render_template(
        "secretkeys/revealed.html",
        user=user,
        secret_key=key,
        product=current_app.config["MAIL_PRODUCT_NAME"],
        token_url=(current_app.config["APP_URL"] or request_base_url()) + "/api/v1/auth/token",
    )


# --- the Secret Key Administrators' pages ------------------------------------------------------
#
# ``/admin/secret_keys``: the tenant's users with key status, and adding, revoking, re-sending
# the reveal link, IP restrictions and revoking one issued token, each behind a confirmation
# step (a GET page, then a CSRF-protected POST and a redirect back with a status message).
# Browser session only (flask_login's ``current_user``; a bearer credential is never read),
# for holders of ``secret_keys.manage``, checked live on every request. No key is ever shown:
# none exists before its user reveals it, and only its digest after. A blueprint of its own:
# the reveal pages' ``Referrer-Policy: no-referrer`` would make these forms post with
# ``Origin: null``.

admin_pages_bp = Blueprint("secretkey_admin_pages", __name__, url_prefix="/admin/secret_keys")

PER_PAGE = 25
# What a refused action tells the administrator, on the list (never a 500).
REFUSALS = (SecretKeyExists, KeyAlreadyRevealed, NoSecretKey, SecretKeyNotFound, InactiveUser)

P = ParamSpec("P")
R = TypeVar("R")
AdminPage = str | tuple[str, int]


def may_administer(user: User) -> bool:
    """Whether the user holds ``secret_keys.manage`` (role or grant), read live."""
    return "secret_keys.manage" in (permissions_for(user.role) | granted_permissions(user.id))


def _administrator() -> User:
    user: User = current_user._get_current_object()
    return user


def ska_page(view: Callable[P, R]) -> Callable[P, R | WerkzeugResponse]:
    """A page for Secret Key Administrators in the browser: visitors sign in and come back,
    anyone else signed in gets the 403 page."""

    @functools.wraps(view)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R | WerkzeugResponse:
        if not current_user.is_authenticated:
            return redirect(url_for("web.login", next=request.path))
        if not may_administer(_administrator()):
            raise Forbidden("Only Secret Key Administrators can manage secret keys.")
        return view(*args, **kwargs)

    return guarded


@admin_pages_bp.app_context_processor
def _home_links() -> dict[str, Callable[[], bool]]:
    """``may_manage_secret_keys()`` for templates (the home page's link); asked lazily."""

    def may_manage_secret_keys() -> bool:
        return bool(current_user.is_authenticated) and may_administer(_administrator())

    return {"may_manage_secret_keys": may_manage_secret_keys}


def _admin_target(user_id: str) -> User:
    """A user of the administrator's tenant; any other id is the 404 page."""
    return keys.family_user(user_id, _administrator().family_id)


def _back_to_list() -> WerkzeugResponse:
    return redirect(url_for("secretkey_admin_pages.list_page"), code=303)


def _refused(exc: TollgateError) -> WerkzeugResponse:
    flash(exc.description, "error")
    return _back_to_list()


def _confirm(user: User, **context: Any) -> str:
    return render_template("secretkeys/admin/confirm.html", target=user, **context)


def _common() -> dict[str, Any]:
    return {"actor_id": _administrator().id, "now": utcnow(), "caller": current_caller()}


# --- the list ---------------------------------------------------------------------------------


@admin_pages_bp.get("")
@ska_page
def list_page() -> str:
    text = request.args.get("page", "1")
    page = int(text) if text.isascii() and text.isdigit() and 0 < len(text) < 7 else 1
    listing = keys.list_family_keys(_administrator().family_id, page=page, per_page=PER_PAGE)
    total_pages = max(1, math.ceil(listing.total_count / listing.per_page))
    return render_template(
        "secretkeys/admin/list.html",
        rows=listing.rows,
        page=listing.page,
        total_pages=total_pages,
        total_count=listing.total_count,
        notices=get_flashed_messages(with_categories=True),
    )


# --- adding, re-sending the link, revoking ----------------------------------------------------


@admin_pages_bp.get("/<user_id>/add")
@ska_page
def add_page(user_id: str) -> str:
    user = _admin_target(user_id)
    return _confirm(
        user,
        title="Add a secret key",
        question=f"Add a secret key for {user.email}? An email with a reveal link will be sent.",
        action=url_for("secretkey_admin_pages.add_confirmed", user_id=user.id),
    )


@admin_pages_bp.post("/<user_id>/add")
@ska_page
def add_confirmed(user_id: str) -> WerkzeugResponse:
    user = _admin_target(user_id)
    try:
        keys.add_secret_key(user, request_base_url=request_base_url(), **_common())
    except REFUSALS as exc:
        return _refused(exc)
    _deliver_mail()
    flash(f"Secret key added for {user.email}: a reveal link was emailed to them.", "success")
    return _back_to_list()


@admin_pages_bp.get("/<user_id>/resend")
@ska_page
def resend_page(user_id: str) -> str:
    user = _admin_target(user_id)
    return _confirm(
        user,
        title="Resend the reveal link",
        question=f"Email a new reveal link to {user.email}?",
        detail="A new reveal link is emailed; earlier links stop working.",
        action=url_for("secretkey_admin_pages.resend_confirmed", user_id=user.id),
    )


@admin_pages_bp.post("/<user_id>/resend")
@ska_page
def resend_confirmed(user_id: str) -> WerkzeugResponse:
    user = _admin_target(user_id)
    try:
        keys.resend_reveal_link(user, request_base_url=request_base_url(), **_common())
    except REFUSALS as exc:
        return _refused(exc)
    _deliver_mail()
    flash(
        f"A new reveal link was emailed to {user.email}; earlier links no longer work.", "success"
    )
    return _back_to_list()


@admin_pages_bp.get("/<user_id>/revoke")
@ska_page
def revoke_page(user_id: str) -> str:
    user = _admin_target(user_id)
    return _confirm(
        user,
        title="Revoke the secret key",
        question=f"Revoke the secret key of {user.email}?",
        detail="Every token issued with this key stops working at once. This cannot be undone.",
        action=url_for("secretkey_admin_pages.revoke_confirmed", user_id=user.id),
        danger=True,
    )


@admin_pages_bp.post("/<user_id>/revoke")
@ska_page
def revoke_confirmed(user_id: str) -> WerkzeugResponse:
    user = _admin_target(user_id)
    try:
        keys.revoke_secret_key(user, **_common())
    except REFUSALS as exc:
        return _refused(exc)
    flash(f"Secret key of {user.email} revoked: its tokens no longer work.", "success")
    return _back_to_list()


# --- IP restrictions --------------------------------------------------------------------------


def _restrictions_page(
    user: User, found: ip_restrictions.Restrictions, *, text: str, errors: list[str]
) -> str:
    return render_template(
        "secretkeys/admin/restrictions.html",
        target=user,
        current=found,
        text=text,
        errors=errors,
    )


@admin_pages_bp.get("/<user_id>/ip_restrictions")
@ska_page
def restrictions_page(user_id: str) -> AdminPage | WerkzeugResponse:
    user = _admin_target(user_id)
    try:
        found = ip_restrictions.get_restrictions(user)
    except NoSecretKey as exc:
        return _refused(exc)
    return _restrictions_page(user, found, text=found.raw, errors=[])


@admin_pages_bp.post("/<user_id>/ip_restrictions")
@ska_page
def restrictions_save(user_id: str) -> AdminPage | WerkzeugResponse:
    user = _admin_target(user_id)
    text = request.form.get("restrictions", "")
    try:
        found = ip_restrictions.set_restrictions(user, text, **_common())
    except NoSecretKey as exc:
        return _refused(exc)
    except InvalidRestrictions as exc:
        current = ip_restrictions.get_restrictions(user, require_key=False)
        errors = [str(e) for e in exc.extra.get("errors") or [exc.description]]
        return _restrictions_page(user, current, text=text, errors=errors), exc.status
    if found.entries:
        flash(
            f"IP restrictions of {user.email} saved ({len(found.entries)} "
            f"{'entry' if len(found.entries) == 1 else 'entries'}); they apply at once.",
            "success",
        )
    else:
        flash(
            f"IP restrictions of {user.email} cleared: any address may use its tokens.", "success"
        )
    return _back_to_list()


# --- issued tokens ----------------------------------------------------------------------------


def _token_of(user: User, jti: str) -> SecretKeyToken:
    """One of the user's unexpired tokens; anything else is the 404 page."""
    for row in tokens.list_tokens(user, now=utcnow()):
        if row.jti == jti:
            return row
    raise NotFound("Token not found")


@admin_pages_bp.get("/<user_id>/tokens")
@ska_page
def tokens_page(user_id: str) -> str:
    user = _admin_target(user_id)
    return render_template(
        "secretkeys/admin/tokens.html",
        target=user,
        tokens=tokens.list_tokens(user, now=utcnow()),
        notices=get_flashed_messages(with_categories=True),
    )


@admin_pages_bp.get("/<user_id>/tokens/<jti>/revoke")
@ska_page
def token_revoke_page(user_id: str, jti: str) -> str:
    user = _admin_target(user_id)
    token = _token_of(user, jti)
    return _confirm(
        user,
        title="Revoke a token",
        question=f"Revoke the token {token.jti} of {user.email}?",
        detail="It stops working at once; the user's other tokens and key are not affected.",
        action=url_for(
            "secretkey_admin_pages.token_revoke_confirmed", user_id=user.id, jti=token.jti
        ),
        cancel=url_for("secretkey_admin_pages.tokens_page", user_id=user.id),
        danger=True,
    )


@admin_pages_bp.post("/<user_id>/tokens/<jti>/revoke")
@ska_page
def token_revoke_confirmed(user_id: str, jti: str) -> WerkzeugResponse:
    user = _admin_target(user_id)
    token = _token_of(user, jti)
    common = _common()
    tokens.revoke_token(
        token.jti,
        family_id=_administrator().family_id,
        actor_id=common["actor_id"],
        now=common["now"],
        caller=common["caller"],
    )
    flash(f"Token {jti} revoked: it no longer works.", "success")
    return redirect(url_for("secretkey_admin_pages.tokens_page", user_id=user.id), code=303)
