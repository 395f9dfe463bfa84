"""SecureCloud access keys: the JSON management API (``/api/v1/access_keys``) and the pages
(``/access_keys``), both for Global Admins only.

Keys are managed only by the account holder in person: the browser session, a first-party
app's token or a secret-key JWT. Never by an API key, an access key, the global key or a
third-party app's token (reference §3.6, T17): a credential must not mint one that outlives
or outranks it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import (
    Blueprint,
    Response,
    flash,
    get_flashed_messages,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as Redirect

from app.accesskeys import services
from app.accesskeys.models import KEY_ROLES, ROLE_LABELS, SELECTING_ROLE
from app.accesskeys.schemas import (
    ACCESS_KEY_LIST,
    AccessKeyIn,
    AccessKeyOut,
    NewAccessKeyOut,
    RolesIn,
)
from app.clock import utcnow
from app.errors import NO_STORE, BadRequest, Conflict, Forbidden, ValidationFailed
from app.gate import current_principal, current_principal_user, require
from app.identity.models import User
from app.openapi import doc
from app.requestctx import current_caller
from app.resources import services as resources

bp = Blueprint("accesskeys", __name__, url_prefix="/api/v1")
pages_bp = Blueprint("accesskeys_pages", __name__, url_prefix="/access_keys")

MANAGERS = ("session", "session_token", "oauth", "secret_key")
ACCESS_KEY_IN = AccessKeyIn()
ROLES_IN = RolesIn()


def _managers(scope: str) -> Callable[[Any], Any]:
    return require(
        scope=scope,
        permission=services.MANAGE,
        credentials=MANAGERS,
        user_required=True,
        first_party_only=True,
    )


def _json_object() -> dict[str, Any]:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise BadRequest('Send a JSON object, e.g. {"name": "...", "roles": [...]}')
    return payload


@bp.get("/access_keys")
@_managers("read")
@doc(
    "List the tenant's access keys (never their JWTs)", response=ACCESS_KEY_LIST, tag="access_keys"
)
def index() -> Response:
    keys = services.list_access_keys(current_principal().family_id)
    return jsonify([key.describe() for key in keys])


@bp.post("/access_keys")
@_managers("write")
@doc(
    "Add an access key (the JWT is in this response only)",
    response=NewAccessKeyOut,
    status=201,
    body=AccessKeyIn,
    tag="access_keys",
)
def create() -> tuple[Response, int]:
    data = ACCESS_KEY_IN.load(_json_object())
    created = services.create_access_key(
        current_principal_user(),
        name=data["name"],
        roles=data["roles"],
        expiration=data.get("expiration"),
        custom_days=data.get("custom_days"),
        now=utcnow(),
        caller=current_caller(),
    )
    response = jsonify({**created.describe(), "token": created.token})
    response.headers.update(NO_STORE)
    return response, 201


@bp.get("/access_keys/<key_id>")
@_managers("read")
@doc("Show an access key (never its JWT)", response=AccessKeyOut, tag="access_keys")
def show(key_id: str) -> Response:
    return jsonify(services.get_access_key(current_principal().family_id, key_id).describe())


@bp.patch("/access_keys/<key_id>")
@_managers("write")
@doc(
    "Change an access key's roles (applies to its JWT at once; the name cannot change)",
    response=AccessKeyOut,
    body=RolesIn,
    tag="access_keys",
)
def update(key_id: str) -> Response:
    payload = _json_object()
    if "name" in payload:
        raise ValidationFailed(
            "The name of an access key cannot be changed",
            error="name_immutable",
            extra={"errors": ["The name of an access key cannot be changed"]},
        )
    data = ROLES_IN.load(payload)
    updated = services.update_roles(
        current_principal_user(), key_id, roles=data["roles"], now=utcnow(), caller=current_caller()
    )
    return jsonify(updated.describe())


@bp.delete("/access_keys/<key_id>")
@_managers("write")
@doc("Remove an access key (its JWT is refused at once)", status=204, tag="access_keys")
def destroy(key_id: str) -> tuple[str, int]:
    services.remove_access_key(
        current_principal_user(), key_id, now=utcnow(), caller=current_caller()
    )
    return "", 204


# --- pages ---------------------------------------------------------------------------------

P = ParamSpec("P")
R = TypeVar("R")
Page = str | tuple[str, int]


def _signed_in_user() -> User:
    user: User = current_user._get_current_object()
    return user


def global_admin_page(view: Callable[P, R]) -> Callable[P, R | Redirect]:
    """A page for Global Admins, in the browser only (the session cookie; never a bearer
    credential): signed-out visitors go to sign in and come back, anyone else gets 403."""

    @wraps(view)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R | Redirect:
        if not current_user.is_authenticated:
            return redirect(url_for("web.login", next=request.path))
        if not services.may_manage(_signed_in_user()):
            raise Forbidden("Only Global Admins can manage API access keys.")
        return view(*args, **kwargs)

    return guarded


@pages_bp.app_context_processor
def _home_links() -> dict[str, Callable[[], bool]]:
    """``may_manage_access_keys()`` for templates (the home page's link); asked lazily."""

    def may_manage_access_keys() -> bool:
        return bool(current_user.is_authenticated) and services.may_manage(_signed_in_user())

    return {"may_manage_access_keys": may_manage_access_keys}


def _accounts_by_id() -> dict[str, str]:
    family_id = _signed_in_user().family_id
    return {str(a.id): a.name for a in resources.family_cloud_accounts(family_id)}


def _form_context(form: dict[str, Any]) -> dict[str, Any]:
    """What the add and edit forms need besides the entered values."""
    return {
        "form": form,
        "roles": [(role, ROLE_LABELS[role]) for role in KEY_ROLES],
        "accounts": resources.family_cloud_accounts(_signed_in_user().family_id),
        "presets": list(services.PRESET_LABELS.items()),
        "max_custom_days": services.max_custom_days(),
    }


def _form_of(key: services.KeyWithRoles | None) -> dict[str, Any]:
    """The form's values: a new key's defaults, or a key's current roles."""
    form: dict[str, Any] = {
        "name": "",
        "expiration": services.default_expiration(),
        "custom_days": "",
        "roles": set(),
        "selection": "",
        "accounts": set(),
    }
    for grant in key.roles if key is not None else []:
        form["roles"].add(grant.role)
        if grant.role == SELECTING_ROLE:
            form["selection"] = "all" if grant.accounts == "all" else "selected"
            if grant.accounts != "all":
                form["accounts"] = {str(a) for a in grant.accounts}
    return form


def _submitted(data: MultiDict[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The form as entered (to show it again) and the roles it asks for, in the API's shape."""
    form = _form_of(None) | {
        "name": data.get("name", ""),
        # No choice sent (radios are never all unchecked in a browser): the default.
        "expiration": data.get("expiration") or services.default_expiration(),
        "custom_days": data.get("custom_days", "").strip(),
        "roles": set(data.getlist("roles")),
        "selection": data.get("selection", ""),
        "accounts": set(data.getlist("accounts")),
    }
    roles: list[dict[str, Any]] = []
    for role in data.getlist("roles"):
        if role != SELECTING_ROLE:
            roles.append({"role": role})
        elif form["selection"] == "all":
            roles.append({"role": role, "accounts": "all"})
        else:
            roles.append({"role": role, "accounts": data.getlist("accounts")})
    return form, roles


@pages_bp.get("")
@global_admin_page
def list_page() -> str:
    return render_template(
        "accesskeys/list.html",
        keys=services.list_access_keys(_signed_in_user().family_id),
        account_names=_accounts_by_id(),
        notices=get_flashed_messages(),
        now=utcnow(),
    )


@pages_bp.get("/new")
@global_admin_page
def new_page() -> str:
    return render_template("accesskeys/new.html", errors=[], **_form_context(_form_of(None)))


@pages_bp.post("/new")
@global_admin_page
def create_page() -> Page:
    form, roles = _submitted(request.form)
    expiration: str | None = form["expiration"]
    custom_days: Any = None
    if expiration == "custom":
        expiration = None
        text = form["custom_days"]
        custom_days = int(text) if text.isascii() and text.isdigit() else text
    try:
        created = services.create_access_key(
            _signed_in_user(),
            name=form["name"],
            roles=roles,
            expiration=expiration,
            custom_days=custom_days,
            now=utcnow(),
            caller=current_caller(),
        )
    except ValidationFailed as exc:
        errors = exc.extra.get("errors") or [exc.description]
        page = render_template("accesskeys/new.html", errors=errors, **_form_context(form))
        return page, 422
    except Conflict as exc:
        page = render_template(
            "accesskeys/new.html", errors=[exc.description], **_form_context(form)
        )
        return page, 409
    # The one time the JWT is shown; headers.py marks every page no-store.
    return render_template(
        "accesskeys/created.html", key=created, account_names=_accounts_by_id()
    ), 201


@pages_bp.get("/<key_id>/edit")
@global_admin_page
def edit_page(key_id: str) -> str:
    key = services.get_access_key(_signed_in_user().family_id, key_id)
    return render_template(
        "accesskeys/edit.html", key=key, errors=[], **_form_context(_form_of(key))
    )


@pages_bp.post("/<key_id>/edit")
@global_admin_page
def update_page(key_id: str) -> Page | Redirect:
    user = _signed_in_user()
    form, roles = _submitted(request.form)
    try:
        updated = services.update_roles(
            user, key_id, roles=roles, now=utcnow(), caller=current_caller()
        )
    except ValidationFailed as exc:
        key = services.get_access_key(user.family_id, key_id)
        errors = exc.extra.get("errors") or [exc.description]
        page = render_template(
            "accesskeys/edit.html", key=key, errors=errors, **_form_context(form)
        )
        return page, 422
    flash(f'Access key "{updated.key.name}" updated.')
    return redirect(url_for("accesskeys_pages.list_page"), code=303)


@pages_bp.get("/<key_id>/remove")
@global_admin_page
def remove_page(key_id: str) -> str:
    key = services.get_access_key(_signed_in_user().family_id, key_id)
    return render_template("accesskeys/remove.html", key=key)


@pages_bp.post("/<key_id>/remove")
@global_admin_page
def remove_confirmed(key_id: str) -> Redirect:
    removed = services.remove_access_key(
        _signed_in_user(), key_id, now=utcnow(), caller=current_caller()
    )
    flash(f'Access key "{removed.name}" removed. Its JWT no longer works.')
    return redirect(url_for("accesskeys_pages.list_page"), code=303)
