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
    time in primary-key order, committing after each batch, in passes until a pass finds
    nothing more. Returns how many rows were deleted."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    model = id_column.class_
    purged = 0
    while True:  # passes: one more whenever the last one deleted anything
        deleted = _purge_pass(id_column, model, where, batch_size)
        purged += deleted
        if not deleted:
            return purged


def _purge_pass(
    id_column: InstrumentedAttribute[Any],
    model: Any,
    where: tuple[ColumnElement[bool], ...],
    batch_size: int,
) -> int:
    """One walk over the table. Keyset pagination on the primary key: each batch starts
    after the last id of the previous one, so a pass reads the table once (re-running the
    same query from the start walked past every live row again for every batch:
    O(live x dead / batch)). A row that became deletable behind the walk because of what it
    deleted (a parent whose children went) is found by the next pass."""
    purged = 0
    after: Any = None
    while True:
        statement = select(id_column).where(*where).order_by(id_column).limit(batch_size)
        if after is not None:
            statement = statement.where(id_column > after)
        ids = db.session.scalars(statement).all()
        if not ids:
            return purged
        after = ids[-1]
        purged += execute_count(delete(model).where(id_column.in_(ids)))
        db.session.commit()
