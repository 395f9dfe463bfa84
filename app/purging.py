"""Batched deletion for housekeeping jobs: one loop instead of a copy per table.

Deleting in bounded batches, each its own transaction, keeps locks short on a busy
PostgreSQL table and keeps a SQLite writer from holding the file for a whole purge.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import InstrumentedAttribute

from app.extensions import db, execute_count


def purge_in_batches(
    id_column: InstrumentedAttribute[Any], *where: ColumnElement[bool], batch_size: int
) -> int:
    """Delete the rows of ``id_column``'s table that match ``where``, ``batch_size`` at a
    time in primary-key order, committing after each batch. Returns how many rows were
    deleted. A row that starts to match behind the scan is left for the next purge."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    model = id_column.class_
    purged = 0
    after: Any = None
    while True:
        # Keyset pagination on the primary key: each batch starts after the last id of the
        # previous one, so a purge walks the table once. (Re-running the same query from the
        # start walked past every live row again for every batch: O(live x dead / batch).)
        statement = select(id_column).where(*where).order_by(id_column).limit(batch_size)
        if after is not None:
            statement = statement.where(id_column > after)
        ids = db.session.scalars(statement).all()
        if not ids:
            return purged
        after = ids[-1]
        purged += execute_count(delete(model).where(id_column.in_(ids)))
        db.session.commit()
