"""audit log index: a tenant's events in time order

The tenant's audit log (app.auditlog) lists and exports one family's events newest first: one
index on (family_id, occurred_at) answers both the filter and the order. It replaces the index
on family_id alone, which its leading column serves. Plain CREATE/DROP INDEX, never a
batch table copy: recreating audit_events would lose its append-only triggers.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08 09:00:00.000000

"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_audit_events_family_id_occurred_at",
        "audit_events",
        ["family_id", "occurred_at"],
        unique=False,
    )
    op.drop_index("ix_audit_events_family_id", table_name="audit_events")


def downgrade():
    op.create_index("ix_audit_events_family_id", "audit_events", ["family_id"], unique=False)
    op.drop_index("ix_audit_events_family_id_occurred_at", table_name="audit_events")
