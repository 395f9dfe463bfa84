"""The OpenAPI 3.1 document, generated from the marshmallow schemas and what each view
declares with ``@doc`` (and ``require``, for security and scopes)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import Schema

F = TypeVar("F", bound=Callable[..., Any])

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "string"}},
        "details": {"type": "object"},
    },
}
ERROR_RESPONSES = {
    "400": "Required parameters are missing or invalid",
    "401": "Missing, invalid or expired credentials",
    "403": "The credential lacks the scope or the user the permission",
    "404": "Not found (or belongs to another family)",
    "422": "Validation failed",
    "429": "Rate limit exceeded",
    "503": "The credential store is unreachable",
}


def doc(
    summary: str,
    *,
    response: type[Schema] | dict[str, Any] | None = None,
    status: int = 200,
    body: type[Schema] | None = None,
    body_key: str | None = None,
    query: type[Schema] | None = None,
    tag: str | None = None,
) -> Callable[[F], F]:
    """Describe a view for the OpenAPI document."""

    def decorator(view: F) -> F:
        view.openapi = {  # type: ignore[attr-defined]
            "summary": summary,
            "response": response,
            "status": status,
            "body": body,
            "body_key": body_key,
            "query": query,
            "tag": tag,
        }
        return view

    return decorator


def _schema_ref(spec: APISpec, schema: type[Schema] | dict[str, Any]) -> dict[str, Any]:
    if isinstance(schema, dict):
        return schema
    name = schema.__name__
    if name not in spec.components.schemas:
        spec.components.schema(name, schema=schema)
    return {"$ref": f"#/components/schemas/{name}"}


def build(app: Flask) -> dict[str, Any]:
    spec = APISpec(
        title="Tollgate API",
        version="1.0.0",
        openapi_version="3.1.0",
        plugins=[MarshmallowPlugin()],
        info={
            "description": "Protected resources and credential management. Every route "
            "takes a Bearer token or an X-Api-Key; browser sessions work "
            "too (writes need the X-CSRFToken header)."
        },
    )
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme(
        "apiKeyAuth", {"type": "apiKey", "in": "header", "name": "X-Api-Key"}
    )
    spec.components.schema("Error", ERROR_SCHEMA)
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions[rule.endpoint]
        meta = getattr(view, "openapi", None)
        # Only /api/v1 paths; a root JSON route (/scans) is documented as its /api/v1 twin.
        if meta is None or not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation: dict[str, Any] = {
                "summary": meta["summary"],
                "operationId": f"{rule.endpoint.removesuffix('__api_v1')}.{method.lower()}",
                "tags": [meta["tag"] or rule.endpoint.split(".")[0]],
                "responses": {},
            }
            parameters = [
                {"name": arg, "in": "path", "required": True, "schema": {"type": "string"}}
                for arg in rule.arguments
            ]
            if meta["query"] is not None:
                parameters.append({"in": "query", "schema": meta["query"]})
            if parameters:
                operation["parameters"] = parameters
            if meta["body"] is not None:
                inner = _schema_ref(spec, meta["body"])
                content_schema = (
                    {
                        "type": "object",
                        "required": [meta["body_key"]],
                        "properties": {meta["body_key"]: inner},
                    }
                    if meta["body_key"]
                    else inner
                )
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": content_schema}},
                }
            success: dict[str, Any] = {"description": "Success"}
            if meta["response"] is not None:
                success["content"] = {
                    "application/json": {"schema": _schema_ref(spec, meta["response"])}
                }
            operation["responses"][str(meta["status"])] = success
            for code, text in ERROR_RESPONSES.items():
                operation["responses"][code] = {
                    "description": text,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
            scope = getattr(view, "required_scope", None)
            # None: every credential kind (require()'s default); absent: not a require() view.
            credentials: frozenset[str] | None = getattr(view, "required_credentials", frozenset())
            security: list[dict[str, list[str]]] = [{"bearerAuth": []}]
            if credentials is None or "api_key" in credentials:
                security.append({"apiKeyAuth": []})
            operation["security"] = security
            notes = [f"Requires the `{scope}` scope."] if scope else []
            if getattr(view, "first_party_only", False):
                notes.append(
                    "Only the account holder: a browser session or a first-party "
                    "app's token (never a third-party app's token or an API key)."
                )
            if notes:
                operation["description"] = " ".join(notes)
            paths.setdefault(path, {})[method.lower()] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()
