"""Input the database cannot hold is the caller's error (400), checked once at the edge
instead of surfacing as a 500 from deep inside a query."""

from __future__ import annotations

import re

from flask import request

from app.errors import TollgateError, surface

MAX_NESTING = 32
_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(value: object, depth: int = 0) -> bool:
    """No NUL characters and no lone surrogates (neither can be stored in PostgreSQL text or
    encoded as UTF-8), and no absurd nesting."""
    if depth > MAX_NESTING:
        return False
    if isinstance(value, str):
        # ASCII (nearly every value) has no surrogates; otherwise one regex pass, not a
        # Python loop per character.
        return "\x00" not in value and (value.isascii() or _SURROGATE.search(value) is None)
    if isinstance(value, dict):
        return all(storable(k, depth + 1) and storable(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return all(storable(v, depth + 1) for v in value)
    return True


def refuse_unstorable_input() -> None:
    """Query string, form fields and JSON body; raises the surface's bad-request error."""
    if not request.query_string and not request.content_length:
        return  # nothing to check (most GETs)
    values: list[object] = list(request.args.values())
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values.extend(request.form.values())
    acceptable = True
    if request.is_json and request.content_length:
        try:
            values.append(request.get_json(silent=True))
        except RecursionError:  # nesting deeper than the JSON parser can follow
            acceptable = False
    if not acceptable or not all(storable(v) for v in values):
        kind = surface(request.path)
        code = "invalid_request" if kind == "oauth" else "bad_request"
        raise TollgateError(
            "The request contains characters or nesting that are not allowed.", error=code
        )
