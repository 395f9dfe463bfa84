"""scans: RedCloud's example resource

A tenant's security scans (``GET/POST /scans``, ``DELETE /scans/<id>``, the dashboard's
counts): the target, a status, when and by whom (None for a service credential; set to None
when the user is purged). One index on (family_id, created_at) serves the tenant filter and
the newest-first order.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 10:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "scans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_scans_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_scans_family_id_families")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scans")),
    )
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_scans_created_by_user_id"), ["created_by_user_id"], unique=False
        )
        batch_op.create_index(
            "ix_scans_family_id_created_at", ["family_id", "created_at"], unique=False
        )


def downgrade():
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_index("ix_scans_family_id_created_at")
        batch_op.drop_index(batch_op.f("ix_scans_created_by_user_id"))
    op.drop_table("scans")
