"""The resource API, Sure-shaped: scope per action as in the Sure contract §8; every lookup
within the caller's family."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, jsonify, request
from marshmallow import EXCLUDE, Schema

from app.clock import rfc3339, utcnow
from app.errors import BadRequest
from app.gate import current_principal, require
from app.openapi import doc
from app.resources import schemas
from app.resources import services as svc

bp = Blueprint("resources", __name__, url_prefix="/api/v1")


def _family() -> uuid.UUID:
    return current_principal().family_id


_loaders: dict[type[Schema], Schema] = {}


def _query(schema: type[Schema]) -> dict[str, Any]:
    if schema not in _loaders:
        _loaders[schema] = schema(unknown=EXCLUDE)
    query: dict[str, Any] = _loaders[schema].load(request.args.to_dict())
    return query


def _body(key: str, schema: type[Schema], *, partial: bool = False) -> dict[str, Any]:
    """``{"<key>": {...}}`` as Sure's ``params.require(:key)``: absent -> 400."""
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or not isinstance(payload.get(key), dict):
        raise BadRequest()
    body: dict[str, Any] = schema().load(payload[key], partial=partial)
    return body


_dumpers: dict[tuple[type[Schema], bool], Schema] = {}


def _dumper(item: type[Schema], many: bool) -> Schema:
    """Schema instances are reusable for dumping; building one per request is not free."""
    key = (item, many)
    if key not in _dumpers:
        _dumpers[key] = item(many=many)
    return _dumpers[key]


def _page(name: str, page: svc.Page, item: type[Schema]) -> Response:
    return jsonify({name: _dumper(item, True).dump(page.items), "pagination": page.pagination})


def _one(item: type[Schema], obj: Any, status: int = 200) -> tuple[Response, int]:
    return jsonify(_dumper(item, False).dump(obj)), status


# --- accounts ------------------------------------------------------------------------------


@bp.get("/accounts")
@require(scope="read", permission="accounts.view", reads_only=True)
@doc("List the family's accounts", response=schemas.AccountPage, query=schemas.AccountQuery)
def accounts_index() -> Response:
    q = _query(schemas.AccountQuery)
    page = svc.list_accounts(
        _family(), q["page"], q["per_page"], include_disabled=q["include_disabled"]
    )
    return jsonify(
        accounts=[schemas.account_json(account) for account in page.items],
        pagination=page.pagination,
    )


@bp.get("/accounts/<account_id>")
@require(scope="read", permission="accounts.view", reads_only=True)
@doc("Show an account", response=schemas.AccountOut, query=schemas.AccountVisibility)
def accounts_show(account_id: str) -> tuple[Response, int]:
    q = _query(schemas.AccountVisibility)
    account = svc.get_account(_family(), account_id, include_disabled=q["include_disabled"])
    return jsonify(schemas.account_json(account)), 200


# --- transactions --------------------------------------------------------------------------


@bp.get("/transactions")
@require(scope="read", permission="transactions.view", reads_only=True)
@doc("List transactions", response=schemas.TransactionPage, query=schemas.TransactionQuery)
def transactions_index() -> Response:
    q = _query(schemas.TransactionQuery)
    page = svc.list_transactions(
        _family(),
        page=q["page"],
        per_page=q["per_page"],
        account_id=q.get("account_id"),
        start_date=q.get("start_date"),
        end_date=q.get("end_date"),
    )
    return _page("transactions", page, schemas.TransactionOut)


@bp.get("/transactions/<transaction_id>")
@require(scope="read", permission="transactions.view", reads_only=True)
@doc("Show a transaction", response=schemas.TransactionOut)
def transactions_show(transaction_id: str) -> tuple[Response, int]:
    return _one(schemas.TransactionOut, svc.get_transaction(_family(), transaction_id))


@bp.post("/transactions")
@require(scope="write", permission="transactions.write")
@doc(
    "Create a transaction",
    response=schemas.TransactionOut,
    status=201,
    body=schemas.TransactionIn,
    body_key="transaction",
)
def transactions_create() -> tuple[Response, int]:
    data = _body("transaction", schemas.TransactionIn)
    return _one(schemas.TransactionOut, svc.create_transaction(_family(), data, utcnow()), 201)


@bp.route("/transactions/<transaction_id>", methods=["PATCH", "PUT"])
@require(scope="write", permission="transactions.write")
@doc(
    "Update a transaction",
    response=schemas.TransactionOut,
    body=schemas.TransactionPatch,
    body_key="transaction",
)
def transactions_update(transaction_id: str) -> tuple[Response, int]:
    data = _body("transaction", schemas.TransactionPatch)
    updated = svc.update_transaction(_family(), transaction_id, data, utcnow())
    return _one(schemas.TransactionOut, updated)


@bp.delete("/transactions/<transaction_id>")
@require(scope="write", permission="transactions.write")
@doc(
    "Delete a transaction",
    response={"type": "object", "properties": {"message": {"type": "string"}}},
)
def transactions_destroy(transaction_id: str) -> Response:
    svc.delete_transaction(_family(), transaction_id)
    return jsonify(message="Transaction deleted successfully")


# --- tags (writes need read_write by name, as in Sure) -----------------------------------------


@bp.get("/tags")
@require(scope="read", permission="tags.view", reads_only=True)
@doc("List tags", response=schemas.TagPage, query=schemas.PageQuery)
def tags_index() -> Response:
    q = _query(schemas.PageQuery)
    return _page("tags", svc.list_tags(_family(), q["page"], q["per_page"]), schemas.TagOut)


@bp.get("/tags/<tag_id>")
@require(scope="read", permission="tags.view", reads_only=True)
@doc("Show a tag", response=schemas.TagOut)
def tags_show(tag_id: str) -> tuple[Response, int]:
    return _one(schemas.TagOut, svc.get_tag(_family(), tag_id))


@bp.post("/tags")
@require(scope="read_write", permission="tags.write")
@doc("Create a tag", response=schemas.TagOut, status=201, body=schemas.TagIn, body_key="tag")
def tags_create() -> tuple[Response, int]:
    data = _body("tag", schemas.TagIn)
    return _one(schemas.TagOut, svc.create_tag(_family(), data, utcnow()), 201)


@bp.route("/tags/<tag_id>", methods=["PATCH", "PUT"])
@require(scope="read_write", permission="tags.write")
@doc("Update a tag", response=schemas.TagOut, body=schemas.TagPatch, body_key="tag")
def tags_update(tag_id: str) -> tuple[Response, int]:
    data = _body("tag", schemas.TagPatch)
    return _one(schemas.TagOut, svc.update_tag(_family(), tag_id, data, utcnow()))


@bp.delete("/tags/<tag_id>")
@require(scope="read_write", permission="tags.write")
@doc("Delete a tag", response={"type": "object", "properties": {"message": {"type": "string"}}})
def tags_destroy(tag_id: str) -> Response:
    svc.delete_tag(_family(), tag_id)
    return jsonify(message="Tag deleted successfully")


# --- valuations ----------------------------------------------------------------------------


@bp.get("/valuations")
@require(scope="read", permission="valuations.view", reads_only=True)
@doc("List valuations", response=schemas.ValuationPage, query=schemas.PageQuery)
def valuations_index() -> Response:
    q = _query(schemas.PageQuery)
    return _page(
        "valuations", svc.list_valuations(_family(), q["page"], q["per_page"]), schemas.ValuationOut
    )


@bp.get("/valuations/<valuation_id>")
@require(scope="read", permission="valuations.view", reads_only=True)
@doc("Show a valuation", response=schemas.ValuationOut)
def valuations_show(valuation_id: str) -> tuple[Response, int]:
    return _one(schemas.ValuationOut, svc.get_valuation(_family(), valuation_id))


@bp.post("/valuations")
@require(scope="write", permission="valuations.write")
@doc(
    "Record a valuation",
    response=schemas.ValuationOut,
    status=201,
    body=schemas.ValuationIn,
    body_key="valuation",
)
def valuations_create() -> tuple[Response, int]:
    data = _body("valuation", schemas.ValuationIn)
    return _one(schemas.ValuationOut, svc.create_valuation(_family(), data, utcnow()), 201)


@bp.route("/valuations/<valuation_id>", methods=["PATCH", "PUT"])
@require(scope="write", permission="valuations.write")
@doc(
    "Update a valuation",
    response=schemas.ValuationOut,
    body=schemas.ValuationPatch,
    body_key="valuation",
)
def valuations_update(valuation_id: str) -> tuple[Response, int]:
    data = _body("valuation", schemas.ValuationPatch)
    return _one(schemas.ValuationOut, svc.update_valuation(_family(), valuation_id, data, utcnow()))


# --- sync ----------------------------------------------------------------------------------


@bp.post("/sync")
@require(scope="write", permission="accounts.sync")
@doc("Recompute every account balance of the family", response=schemas.SyncOut)
def sync() -> tuple[Response, int]:
    result = svc.sync_family(_family(), utcnow())
    return _one(schemas.SyncOut, result)


# --- cloud accounts (SecureCloud; access keys see only their account selection) -------------


def _account_selection() -> list[uuid.UUID] | None:
    """The accounts the caller may see: an access key's selection, or None (every account of
    the family, including ones added later) for every other credential."""
    selection: list[uuid.UUID] | None = current_principal().details.get("cloud_account_ids")
    return selection


@bp.get("/cloud_accounts")
@require(scope="read", permission="cloud_accounts.view", reads_only=True)
@doc(
    "List the tenant's cloud accounts (an access key sees its selection)",
    response=schemas.CloudAccountPage,
    query=schemas.PageQuery,
)
def cloud_accounts_index() -> Response:
    q = _query(schemas.PageQuery)
    page = svc.list_cloud_accounts(
        _family(), account_ids=_account_selection(), page=q["page"], per_page=q["per_page"]
    )
    return _page("cloud_accounts", page, schemas.CloudAccountOut)


@bp.get("/cloud_accounts/<cloud_account_id>")
@require(scope="read", permission="cloud_accounts.view", reads_only=True)
@doc("Show a cloud account", response=schemas.CloudAccountOut)
def cloud_accounts_show(cloud_account_id: str) -> tuple[Response, int]:
    account = svc.get_cloud_account(_family(), cloud_account_id, account_ids=_account_selection())
    return _one(schemas.CloudAccountOut, account)


@bp.post("/cloud_accounts")
@require(scope="write", permission="cloud_accounts.write")
@doc(
    "Add a cloud account",
    response=schemas.CloudAccountOut,
    status=201,
    body=schemas.CloudAccountIn,
    body_key="cloud_account",
)
def cloud_accounts_create() -> tuple[Response, int]:
    data = _body("cloud_account", schemas.CloudAccountIn)
    account = svc.create_cloud_account(
        _family(), name=data["name"], provider=data["provider"], now=utcnow()
    )
    return _one(schemas.CloudAccountOut, account, 201)


# --- tasks (SureCloud) -----------------------------------------------------------------------

TASK_JSON = {
    "type": "object",
    "required": ["id", "title", "status", "created_at"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "title": {"type": "string"},
        "status": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
TASK_PAGE_JSON = {
    "type": "object",
    "required": ["tasks", "pagination"],
    "properties": {
        "tasks": {"type": "array", "items": TASK_JSON},
        "pagination": {"type": "object"},
    },
}


@bp.get("/tasks")
@require(scope="read", permission="tasks.view", reads_only=True)
@doc("List the tenant's tasks", response=TASK_PAGE_JSON, query=schemas.PageQuery)
def tasks_index() -> Response:
    q = _query(schemas.PageQuery)
    page = svc.list_tasks(_family(), q["page"], q["per_page"])
    tasks = [
        {
            "id": str(task.id),
            "title": task.title,
            "status": task.status,
            "created_at": rfc3339(task.created_at),
        }
        for task in page.items
    ]
    return jsonify(tasks=tasks, pagination=page.pagination)
