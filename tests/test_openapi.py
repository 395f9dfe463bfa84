"""The OpenAPI 3.1 document at /api/v1/openapi.json: valid, complete (every documented /api/v1
route, every resources.* and apikeys.* endpoint), both security schemes, every operation's
responses; and a schemathesis run against the app that finds no 5xx."""

from __future__ import annotations

import re
import time
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask

from app.clock import utcnow

SCOPE_BY_ENDPOINT = {  # Sure contract §8 ("write" = needs read_write; tags: read_write by name)
    "resources.accounts_index": "read",
    "resources.accounts_show": "read",
    "resources.transactions_index": "read",
    "resources.transactions_show": "read",
    "resources.transactions_create": "write",
    "resources.transactions_update": "write",
    "resources.transactions_destroy": "write",
    "resources.tags_index": "read",
    "resources.tags_show": "read",
    "resources.tags_create": "read_write",
    "resources.tags_update": "read_write",
    "resources.tags_destroy": "read_write",
    "resources.valuations_index": "read",
    "resources.valuations_show": "read",
    "resources.valuations_create": "write",
    "resources.valuations_update": "write",
    "resources.sync": "write",
}


@pytest.fixture
def document(client) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


def operations(document: dict[str, Any]):  # type: ignore[no-untyped-def]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_document_is_openapi_3_1_and_public(document) -> None:
    """Served without credentials (the explorer loads it before anyone signs in)."""
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "Tollgate API"
    assert document["info"]["version"]
    assert document["paths"]


def test_document_validates(document) -> None:
    from openapi_spec_validator import validate

    validate(document)  # detects 3.1 from the document and validates against its meta-schema


def test_both_security_schemes_are_declared(document) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert schemes["apiKeyAuth"] == {"type": "apiKey", "in": "header", "name": "X-Api-Key"}
    used = {name for _, _, op in operations(document) for req in op["security"] for name in req}
    assert used == {"bearerAuth", "apiKeyAuth"}


def test_every_documented_api_v1_route_is_in_the_document(app: Flask, document) -> None:
    expected: set[tuple[str, str]] = set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if not rule.rule.startswith("/api/v1/") or getattr(view, "openapi", None) is None:
            continue
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            expected.add((openapi_path(rule.rule), method.lower()))
    documented = {(path, method) for path, method, _ in operations(document)}
    assert expected, "no view carries OpenAPI metadata"
    assert expected - documented == set()
    assert documented - expected == set()  # nothing documented that the app does not serve


@pytest.mark.parametrize("blueprint", ["resources", "apikeys"])
def test_every_resource_and_api_key_endpoint_is_documented(
    app: Flask, document, blueprint: str
) -> None:
    by_operation_id = {
        op["operationId"]: (path, method) for path, method, op in operations(document)
    }
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith(f"{blueprint}.")]
    assert rules
    for rule in rules:
        assert getattr(app.view_functions[rule.endpoint], "openapi", None) is not None, (
            f"{rule.endpoint} has no @doc metadata"
        )
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            found = by_operation_id.get(f"{rule.endpoint}.{method.lower()}")
            assert found == (openapi_path(rule.rule), method.lower()), rule.rule


def test_every_operation_lists_its_responses(document) -> None:
    ids = []
    for path, method, op in operations(document):
        ids.append(op["operationId"])
        assert op["summary"], (method, path)
        responses = op["responses"]
        success = [code for code in responses if code.startswith("2")]
        assert len(success) == 1, (method, path, sorted(responses))
        for code in ("401", "403"):
            assert code in responses, (method, path, code)
            assert responses[code]["description"]
            assert responses[code]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }
        for code, response in responses.items():
            assert response["description"], (method, path, code)
        assert op["security"], (method, path)
        assert {"bearerAuth": []} in op["security"]
        for param in re.findall(r"{([^}]+)}", path):
            declared = [p for p in op.get("parameters", []) if p["in"] == "path"]
            assert {
                "name": param,
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
            } in declared, (method, path)
    assert len(ids) == len(set(ids)), "operationIds must be unique"


def test_error_schema_matches_the_sure_envelope(document) -> None:
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert set(error["properties"]) >= {"error", "message", "errors", "details"}


def test_resource_operations_take_both_credentials_and_state_their_scope(
    app: Flask, document
) -> None:
    seen = set()
    for path, method, op in operations(document):
        endpoint, _, _ = op["operationId"].rpartition(".")
        if endpoint not in SCOPE_BY_ENDPOINT:
            continue
        seen.add(endpoint)
        assert op["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}], (method, path)
        assert op["description"] == f"Requires the `{SCOPE_BY_ENDPOINT[endpoint]}` scope."
    assert seen == set(SCOPE_BY_ENDPOINT)


def test_api_key_management_is_not_open_to_api_keys(document) -> None:
    """Keys are managed with a session or a user-bound token, never an API key."""
    for path in ("/api/v1/api_keys", "/api/v1/api_keys/{key_id}"):
        for method, op in document["paths"][path].items():
            assert op["security"] == [{"bearerAuth": []}], (method, path)
    assert {"apiKeyAuth": []} in document["paths"]["/api/v1/usage"]["get"]["security"]


def test_request_bodies_are_wrapped_like_sures_params(document) -> None:
    for path, method, key, schema in [
        ("/api/v1/transactions", "post", "transaction", "TransactionIn"),
        ("/api/v1/transactions/{transaction_id}", "patch", "transaction", "TransactionPatch"),
        ("/api/v1/tags", "post", "tag", "TagIn"),
        ("/api/v1/tags/{tag_id}", "put", "tag", "TagPatch"),
        ("/api/v1/valuations", "post", "valuation", "ValuationIn"),
        ("/api/v1/valuations/{valuation_id}", "patch", "valuation", "ValuationPatch"),
    ]:
        body = document["paths"][path][method]["requestBody"]
        assert body["required"] is True
        assert body["content"]["application/json"]["schema"] == {
            "type": "object",
            "required": [key],
            "properties": {key: {"$ref": f"#/components/schemas/{schema}"}},
        }
    transaction_in = document["components"]["schemas"]["TransactionIn"]
    assert sorted(transaction_in["required"]) == ["account_id", "amount", "date", "name"]
    assert transaction_in["additionalProperties"] is False  # unknown fields are refused
    for path in ("/api/v1/transactions", "/api/v1/tags", "/api/v1/valuations"):
        assert "201" in document["paths"][path]["post"]["responses"]


def test_index_operations_document_pagination(document) -> None:
    for path in ("/api/v1/accounts", "/api/v1/transactions", "/api/v1/tags", "/api/v1/valuations"):
        params = {p["name"]: p for p in document["paths"][path]["get"]["parameters"]}
        assert params["page"]["in"] == "query"
        assert params["page"]["schema"]["minimum"] == 1
        assert params["per_page"]["schema"]["default"] == 25
    params = {p["name"] for p in document["paths"]["/api/v1/transactions"]["get"]["parameters"]}
    assert {"account_id", "start_date", "end_date"} <= params


# --- what the API returns matches what the document says ------------------------------------


def _validator(document: dict[str, Any], schema: dict[str, Any]):  # type: ignore[no-untyped-def]
    from jsonschema import Draft202012Validator

    return Draft202012Validator({**schema, "components": document["components"]})


def test_responses_match_the_documented_schemas(app: Flask, api_seed, document) -> None:
    """Real responses of every resource read and write, validated (JSON Schema 2020-12, as
    OpenAPI 3.1) against the schema their operation documents."""
    client = app.test_client()
    headers = api_seed["headers"]
    calls = [
        ("get", "/api/v1/accounts", "/api/v1/accounts", None),
        ("get", "/api/v1/accounts/{account_id}", f"/api/v1/accounts/{api_seed['account']}", None),
        ("get", "/api/v1/transactions", "/api/v1/transactions", None),
        (
            "get",
            "/api/v1/transactions/{transaction_id}",
            f"/api/v1/transactions/{api_seed['transaction']}",
            None,
        ),
        ("post", "/api/v1/tags", "/api/v1/tags", {"tag": {"name": "documented"}}),
        (
            "get",
            "/api/v1/valuations/{valuation_id}",
            f"/api/v1/valuations/{api_seed['valuation']}",
            None,
        ),
        ("post", "/api/v1/sync", "/api/v1/sync", None),
        ("get", "/api/v1/tags/{tag_id}", f"/api/v1/tags/{uuid.uuid4()}", None),  # 404
        ("post", "/api/v1/transactions", "/api/v1/transactions", {"transaction": {}}),  # 422
    ]
    problems = []
    for method, template, url, body in calls:
        response = client.open(url, method=method.upper(), headers=headers, json=body)
        documented = document["paths"][template][method]["responses"]
        assert str(response.status_code) in documented, (method, url, response.status_code)
        schema = documented[str(response.status_code)]["content"]["application/json"]["schema"]
        for error in _validator(document, schema).iter_errors(response.get_json()):
            problems.append(
                f"{method.upper()} {template} {response.status_code}: "
                f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
            )
    assert problems == []


# --- schemathesis ---------------------------------------------------------------------------


@pytest.fixture
def api_seed(app: Flask, make_user) -> dict[str, Any]:
    """A family with one record of every kind and an enterprise-tier read_write key (the run
    sends well over the standard tier's 100 requests an hour)."""
    from app.apikeys.services import create_api_key
    from app.extensions import db
    from app.identity.models import User
    from app.resources import services

    owner = make_user(email="fuzz-owner@example.com")
    with app.app_context():
        now = utcnow()
        account = services.create_account(
            family_id=owner.family_id, name="Fuzzed", currency="USD", balance=Decimal("10"), now=now
        )
        tag = services.create_tag(owner.family_id, {"name": "fuzz"}, now)
        transaction = services.create_transaction(
            owner.family_id,
            {
                "account_id": account.id,
                "date": date(2026, 1, 2),
                "amount": Decimal("1.5"),
                "name": "seed",
                "tag_ids": [tag.id],
            },
            now,
        )
        valuation = services.create_valuation(
            owner.family_id,
            {"account_id": account.id, "date": date(2026, 1, 1), "amount": Decimal("100")},
            now,
        )
        key = create_api_key(
            db.session.get(User, owner.id),
            name="schemathesis",
            scope="read_write",
            tier="enterprise",
            now=now,
        ).key
        return {
            "headers": {"X-Api-Key": key},
            "account": str(account.id),
            "tag": str(tag.id),
            "transaction": str(transaction.id),
            "valuation": str(valuation.id),
        }


# Operations not fuzzed: deleting one's own user deactivates the caller, after which every
# later request is (correctly) a 401; it is covered by its own view tests.
NOT_FUZZED = {"firstparty.users_destroy.delete"}
# Operations that take only a credential of their own, never the run's key or token: the
# partner SSO exchange reads a partner-signed assertion (tests/partners cover its successes),
# so here it can only refuse (401) — what the run checks for them is that nothing is a 5xx.
OWN_CREDENTIAL_ONLY = {
    "partners.sso_exchange.get",
    # Sure's SSO exchanges take a one-time code minted by a sign-in at a provider (tests/sso).
    "sso_mobile.sso_exchange.post",
    "sso_mobile.sso_link.post",
    "sso_mobile.sso_create_account.post",
}


def _numeric_bounds(node: Any) -> None:
    """The served document states decimal bounds as strings ('999999999999999.0000'), which
    test_document_validates reports; here they are turned back into numbers so that the 5xx
    hunt can still generate bodies for every operation."""
    if isinstance(node, dict):
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if isinstance(node.get(key), str):
                node[key] = int(Decimal(node[key]))
        for value in node.values():
            _numeric_bounds(value)
    elif isinstance(node, list):
        for value in node:
            _numeric_bounds(value)


def _fuzz(strategy, mode, headers, api_seed, statuses, operation_id):  # type: ignore[no-untyped-def]
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error

    @given(case=strategy)
    @settings(
        max_examples=20,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case) -> None:  # type: ignore[no-untyped-def]
        body = case.body
        if mode is GenerationMode.POSITIVE and isinstance(body, dict):
            # Point generated references at real records, so that valid bodies get past
            # the 404s and reach the database.
            for inner in body.values():
                if isinstance(inner, dict):
                    if "account_id" in inner:
                        inner["account_id"] = api_seed["account"]
                    if "tag_ids" in inner:
                        inner["tag_ids"] = [api_seed["tag"]]
        response = case.call(headers=headers)
        statuses.setdefault(operation_id, set()).add(response.status_code)
        case.validate_response(response, checks=[not_a_server_error])

    return run


def _describe(operation_id: str, mode: str, exc: BaseException) -> str:
    notes = "\n".join(getattr(exc, "__notes__", []))
    return f"{operation_id} ({mode}): {exc}\n{notes}"[:3000]


@pytest.mark.slow
def test_schemathesis_finds_no_server_errors(app: Flask, api_seed, tokens) -> None:
    import schemathesis
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.core.failures import FailureGroup
    from schemathesis.core.result import Err

    loaded = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    document = loaded.raw_schema
    _numeric_bounds(document)
    schema = schemathesis.openapi.from_dict(document)
    schema.app = app
    # Credentials come from us (a valid key or token), not from generated security headers.
    schema.config.generation.update(with_security_parameters=False)

    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    seeded_ids = {
        "account_id": api_seed["account"],
        "tag_id": api_seed["tag"],
        "transaction_id": api_seed["transaction"],
        "valuation_id": api_seed["valuation"],
    }
    failures: list[str] = []
    statuses: dict[str, set[int]] = {}
    started = time.monotonic()
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"unloadable operation: {result.err()}")
            continue
        operation = result.ok()
        operation_id = operation.definition.raw["operationId"]
        if operation_id in NOT_FUZZED:
            continue
        takes_keys = {"apiKeyAuth": []} in operation.definition.raw["security"]
        headers = api_seed["headers"] if takes_keys else bearer
        path_names = [p.name for p in operation.path_parameters]
        variants = [(GenerationMode.POSITIVE, None), (GenerationMode.NEGATIVE, None)]
        if path_names:
            variants.append(
                (GenerationMode.POSITIVE, {n: seeded_ids[n] for n in path_names if n in seeded_ids})
            )
        for mode, path_parameters in variants:
            strategy = operation.as_strategy(
                generation_mode=mode, headers=headers, path_parameters=path_parameters
            )

            run = _fuzz(strategy, mode, headers, api_seed, statuses, operation_id)
            try:
                run()
            except Unsatisfiable:
                # Nothing in this operation can be made invalid (e.g. only free-form string
                # path parameters): negative mode has no cases to generate.
                if mode is not GenerationMode.NEGATIVE:
                    raise
            except (Exception, FailureGroup) as exc:  # collect every failure, then report
                failures.append(_describe(operation_id, mode.value, exc))
    elapsed = time.monotonic() - started
    assert failures == [], "\n\n".join(failures)
    # The run really exercised the API: successes on every resource endpoint, and the keys
    # and tokens were honoured (no operation only ever saw 401/429).
    for operation_id in (
        "resources.transactions_create.post",
        "resources.tags_create.post",
        "resources.valuations_update.patch",
        "resources.accounts_index.get",
        "resources.sync.post",
    ):
        assert any(200 <= s < 300 for s in statuses[operation_id]), (operation_id, statuses)
    for operation_id, seen in statuses.items():
        if operation_id in OWN_CREDENTIAL_ONLY:
            continue
        assert seen - {401, 429}, (operation_id, seen)
    # A guard against a hanging operation, not a speed claim: the budget grows with the
    # document (two workers' worth of 20 examples per operation on a loaded machine).
    budget = 3 * len(statuses)
    assert elapsed < budget, f"schemathesis run took {elapsed:.0f}s (budget {budget}s)"
