"""Surfsight organisations over HTTP.

``bp`` (JSON, at the root and, automatically, under ``/api/v1``):
- ``GET /organizations/sso``: a partner's HS256 assertion -> an organisation admin token. It
  reads ``Authorization: Bearer <JWT>`` itself: the assertion is accepted on this route only
  (the gate has no verifier for it, so it is a 401 anywhere else: reference T10, 002.18).
  Registered before every ``/organizations/<id>`` route (T12);
- ``POST /organizations/sso/revoke``: an admin token revokes itself;
- ``POST /organizations`` and ``GET /organizations[/<id>]``;
- ``POST /organizations/<id>/sso_secret/rotate``, ``DELETE /organizations/<id>/admin_tokens``:
  the owning partner only.

Partner actions take the partner's own user-bound credentials (a session JWT, the browser
session, an OAuth token, a secret-key JWT), never an API key and never a service credential
such as an organisation admin token (reference §3.6, T17).

``pages_bp`` (HTML, browser session only): a partner's organisations page.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as Redirect

from app.clock import rfc3339, utcnow
from app.config import current_region
from app.errors import NO_STORE, BadRequest, Forbidden
from app.gate import Principal, current_principal, current_principal_user, require
from app.gate.bearer import bearer_credential
from app.identity.models import User
from app.openapi import doc
from app.partners import schemas, services, tokens
from app.partners.verifier import CREDENTIAL_KIND
from app.requestctx import current_caller

bp = Blueprint("partners", __name__)
pages_bp = Blueprint(
    "partner_pages",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/partner/static",
)

TAG = "organizations"


# --- who is acting ----------------------------------------------------------------------------


def _is_partner(principal: Principal) -> bool:
    """A partner's own user-bound credential, acting in the partner's own tenant."""
    user = principal.user if principal.user_bound else None
    return user is not None and user.is_partner and principal.home_family_id is None


def _acting_partner() -> User:
    """The partner behind a ``require(user_required=True)`` request, or 403: API keys are not
    a partner's sign-in, and partner actions happen in the partner's own tenant."""
    principal = current_principal()
    if principal.credential_kind == "api_key":
        raise Forbidden("Partner actions need the partner's own sign-in or token, not an API key")
    if principal.home_family_id is not None:
        raise Forbidden("Partner actions are taken in the partner's own tenant")
    user = current_principal_user()
    services.require_partner(user)
    return user


def _json_object(*, optional: bool = False) -> dict[str, Any]:
    if optional and not request.get_data():
        return {}
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise BadRequest('Send a JSON object, e.g. {"name": "organization 1"}')
    return payload


# --- the SSO exchange (before any /organizations/<id> route) ---------------------------------


@bp.get("/organizations/sso")
@doc(
    "Exchange a partner's HS256 SSO assertion (Authorization: Bearer <JWT> with organizationId "
    "and timestamp, signed with the ssoSecret) for a 24-hour organization admin token",
    response=schemas.AdminTokenOut,
    tag=TAG,
)
def sso_exchange() -> Response:
    header = request.headers.get("Authorization")
    assertion = bearer_credential(header) if header is not None else None
    issued = tokens.exchange(assertion, now=utcnow(), caller=current_caller())
    response = jsonify(
        token=issued.token, expires_in=issued.expires_in, expires_at=rfc3339(issued.expires_at)
    )
    response.headers.update(NO_STORE)
    return response


@bp.post("/organizations/sso/revoke")
@require(scope="write", credentials=(CREDENTIAL_KIND,))
@doc("Revoke the organization admin token this request is made with", status=204, tag=TAG)
def sso_revoke() -> tuple[str, int]:
    principal = current_principal()
    tokens.revoke_token(
        uuid.UUID(principal.credential_id),
        principal.family_id,
        now=utcnow(),
        caller=current_caller(),
    )
    return "", 204


# --- organisations ---------------------------------------------------------------------------


@bp.get("/organizations")
@require(scope="read")
@doc(
    "List organizations: a partner's own, an admin token's organization, or your own tenant "
    "(never an ssoSecret)",
    response=schemas.ORGANIZATION_LIST,
    tag=TAG,
)
def index() -> Response:
    principal = current_principal()
    if _is_partner(principal):
        found = services.partner_organizations(principal.family_id, current_region())
    else:
        found = [services.tenant(principal.family_id)]
    return jsonify([services.describe(organization) for organization in found])


@bp.post("/organizations")
@require(scope="write", user_required=True)
@doc(
    "Create an organization (partners only); its ssoSecret is in this response only",
    response=schemas.NewOrganizationOut,
    status=201,
    body=schemas.OrganizationIn,
    tag=TAG,
)
def create() -> tuple[Response, int]:
    partner = _acting_partner()
    payload = _json_object()
    created = services.create_organization(
        partner, name=payload.get("name"), now=utcnow(), caller=current_caller()
    )
    response = jsonify({**services.describe(created.organization), "ssoSecret": created.sso_secret})
    response.headers.update(NO_STORE)
    return response, 201


@bp.get("/organizations/<organization_id>")
@require(scope="read")
@doc("Show an organization (never its ssoSecret)", response=schemas.OrganizationOut, tag=TAG)
def show(organization_id: str) -> Response:
    principal = current_principal()
    organization = services.visible_organization(
        principal.family_id,
        organization_id,
        region=current_region(),
        partner=_is_partner(principal),
    )
    return jsonify(services.describe(organization))


@bp.post("/organizations/<organization_id>/sso_secret/rotate")
@require(scope="write", user_required=True)
@doc(
    "Rotate an organization's ssoSecret (the owning partner); the new secret is in this "
    "response only, and the organization's admin tokens are revoked unless revoke_tokens is "
    "false",
    response=schemas.RotatedSecretOut,
    body=schemas.RotateIn,
    tag=TAG,
)
def rotate(organization_id: str) -> Response:
    partner = _acting_partner()
    revoke = _json_object(optional=True).get("revoke_tokens", True)
    if not isinstance(revoke, bool):
        raise BadRequest("revoke_tokens must be true or false")
    rotated = services.rotate_sso_secret(
        partner,
        organization_id,
        revoke_tokens=revoke,
        now=utcnow(),
        region=current_region(),
        caller=current_caller(),
    )
    response = jsonify(organizationId=str(rotated.organization.id), ssoSecret=rotated.sso_secret)
    response.headers.update(NO_STORE)
    return response


@bp.delete("/organizations/<organization_id>/admin_tokens")
@require(scope="write", user_required=True)
@doc("Revoke every admin token of an organization (the owning partner)", status=204, tag=TAG)
def revoke_admin_tokens(organization_id: str) -> tuple[str, int]:
    partner = _acting_partner()
    services.revoke_admin_tokens(
        partner, organization_id, now=utcnow(), region=current_region(), caller=current_caller()
    )
    return "", 204


# --- pages -----------------------------------------------------------------------------------

P = ParamSpec("P")
R = TypeVar("R")
Page = str | tuple[str, int]
PAGE = "/partner/organizations"


def _signed_in_user() -> User:
    user: User = current_user._get_current_object()
    return user


def partner_page(view: Callable[P, R]) -> Callable[P, R | Redirect]:
    """A page for partners, in the browser only (the session cookie; never a bearer
    credential): signed-out visitors go to sign in and come back, anyone else gets 403."""

    @wraps(view)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R | Redirect:
        if not current_user.is_authenticated:
            return redirect(url_for("web.login", next=request.path))
        if not _signed_in_user().is_partner:
            raise services.NotAPartner("Only partner users can manage organizations.")
        return view(*args, **kwargs)

    return guarded


def _list_page(errors: list[str], name: str = "", status: int = 200) -> Page:
    user = _signed_in_user()
    page = render_template(
        "partners/list.html",
        organizations=services.partner_organizations(user.family_id, current_region()),
        errors=errors,
        name=name,
    )
    return (page, status) if status != 200 else page


@pages_bp.get(PAGE)
@partner_page
def list_page() -> Page:
    return _list_page([])


@pages_bp.post(PAGE)
@partner_page
def create_page() -> Page:
    name = request.form.get("name", "")
    try:
        created = services.create_organization(
            _signed_in_user(), name=name, now=utcnow(), caller=current_caller()
        )
    except BadRequest as refused:
        return _list_page([refused.description], name=name, status=422)
    # The one time the ssoSecret is shown; headers.py marks every page no-store.
    page = render_template(
        "partners/secret.html",
        title="Organization created",
        organization=created.organization,
        sso_secret=created.sso_secret,
    )
    return page, 201


@pages_bp.get(f"{PAGE}/<organization_id>/rotate")
@partner_page
def rotate_page(organization_id: str) -> str:
    user = _signed_in_user()
    organization = services.owned_organization(user.family_id, organization_id, current_region())
    return render_template("partners/rotate.html", organization=organization)


@pages_bp.post(f"{PAGE}/<organization_id>/rotate")
@partner_page
def rotate_confirmed(organization_id: str) -> str:
    rotated = services.rotate_sso_secret(
        _signed_in_user(),
        organization_id,
        revoke_tokens=request.form.get("revoke_tokens") == "yes",
        now=utcnow(),
        region=current_region(),
        caller=current_caller(),
    )
    return render_template(
        "partners/secret.html",
        title="ssoSecret rotated",
        organization=rotated.organization,
        sso_secret=rotated.sso_secret,
    )
