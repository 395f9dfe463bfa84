"""The ``/api/v1`` twin of every JSON route outside the Sure contract."""

from __future__ import annotations

from flask import Flask

API_PREFIX = "/api/v1"


def add_api_v1_twins(app: Flask, json_endpoints: set[str]) -> None:
    """Serve every JSON route outside the Sure contract under ``/api/v1`` too: same view, same
    methods, same protection. A Sure path that already exists there wins."""
    existing = {rule.rule for rule in app.url_map.iter_rules()}
    for rule in list(app.url_map.iter_rules()):
        if rule.endpoint not in json_endpoints or rule.rule.startswith(API_PREFIX):
            continue
        twin = API_PREFIX + rule.rule
        if twin in existing:
            continue
        app.add_url_rule(
            twin,
            endpoint=f"{rule.endpoint}__api_v1",
            view_func=app.view_functions[rule.endpoint],
            methods=sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}),
        )
