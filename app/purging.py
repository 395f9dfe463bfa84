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
    time, committing after each batch. Returns how many rows were deleted."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    model = id_column.class_
    purged = 0
    while True:
        ids = db.session.scalars(select(id_column).where(*where).limit(batch_size)).all()
        if not ids:
            return purged
        purged += execute_count(delete(model).where(id_column.in_(ids)))
        db.session.commit()
