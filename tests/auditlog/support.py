"""What the audit-log tests share besides fixtures (those are in conftest.py)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from werkzeug.test import TestResponse

EVENTS = "/api/v1/admin/audit_events"
EXPORT = "/api/v1/admin/audit_events/export"
# Seeded events happen in 2020; what the set-up records (an API key's creation) happens now.
BASE = datetime(2020, 5, 1, 12, 0, 0)
BEFORE_SETUP = "2021-01-01T00:00:00Z"
CSV_HEADER = [
    "id",
    "occurred_at",
    "event",
    "outcome",
    "actor_user_id",
    "ip",
    "correlation_id",
    "client_id",
    "details",
]


def ids(body: dict[str, Any]) -> list[int]:
    return [event["id"] for event in body["events"]]


def csv_rows(response: TestResponse) -> list[dict[str, str]]:
    """The CSV body as dicts by column, after checking its header row."""
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == CSV_HEADER
    return [dict(zip(CSV_HEADER, row, strict=True)) for row in rows[1:]]


def ndjson_events(response: TestResponse) -> list[dict[str, Any]]:
    text = response.get_data(as_text=True)
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]
