"""The export formats: CSV (spreadsheet-safe) and NDJSON (one JSON event per line), written
batch by batch as the response streams.

CSV injection (OWASP): a spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or
``@`` (or a tab / carriage return before one) as a formula. Several columns hold what a
caller chose (a correlation id may start with ``-``), so every such cell gets a leading
``'``, which spreadsheets show as text."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime

from app.auditlog.schemas import event_out
from app.auditlog.services import EventRow

CSV_COLUMNS = (
    "id",
    "occurred_at",
    "event",
    "outcome",
    "actor_user_id",
    "ip",
    "correlation_id",
    "client_id",
    "details",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MIMETYPES = {"csv": "text/csv", "ndjson": "application/x-ndjson"}


def csv_safe(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _csv_cells(row: EventRow) -> list[str]:
    event = event_out(row)
    event["details"] = json.dumps(event["details"], sort_keys=True, separators=(",", ":"))
    return [csv_safe("" if event[name] is None else str(event[name])) for name in CSV_COLUMNS]


def csv_lines(batches: Iterable[list[EventRow]]) -> Iterator[str]:
    """The header, then one chunk of CSV (RFC 4180, CRLF line ends) per batch."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    for batch in batches:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(_csv_cells(row) for row in batch)
        yield buffer.getvalue()


def ndjson_lines(batches: Iterable[list[EventRow]]) -> Iterator[str]:
    for batch in batches:
        yield "".join(json.dumps(event_out(row), sort_keys=True) + "\n" for row in batch)


def render(export_format: str, batches: Iterable[list[EventRow]]) -> Iterator[str]:
    return csv_lines(batches) if export_format == "csv" else ndjson_lines(batches)


def filename(export_format: str, now: datetime) -> str:
    return f"audit-events-{now:%Y%m%dT%H%M%SZ}.{export_format}"
