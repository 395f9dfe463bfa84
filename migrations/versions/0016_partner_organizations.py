"""partner organisations: admin tokens and exchanged assertions

Surfsight: 24-hour organisation admin tokens (stored as digests, bound to the organisation, its
partner tenant and the issuing region) and the digests of partner SSO assertions already
exchanged (single use until their 15 minutes are over).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 09:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "org_admin_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("partner_family_id", sa.Uuid(), nullable=False),
        sa.Column("issued_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_org_admin_tokens_family_id_families")
        ),
        sa.ForeignKeyConstraint(
            ["issued_by_user_id"],
            ["users.id"],
            name=op.f("fk_org_admin_tokens_issued_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["partner_family_id"],
            ["families.id"],
            name=op.f("fk_org_admin_tokens_partner_family_id_families"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_admin_tokens")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_org_admin_tokens_token_digest")),
    )
    with op.batch_alter_table("org_admin_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_org_admin_tokens_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_org_admin_tokens_family_id"), ["family_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_org_admin_tokens_partner_family_id"),
            ["partner_family_id"],
            unique=False,
        )

    op.create_table(
        "partner_assertions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("assertion_digest", sa.String(length=64), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_partner_assertions_family_id_families")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_assertions")),
        sa.UniqueConstraint(
            "assertion_digest", name=op.f("uq_partner_assertions_assertion_digest")
        ),
    )
    with op.batch_alter_table("partner_assertions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_partner_assertions_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_partner_assertions_family_id"), ["family_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("partner_assertions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_assertions_family_id"))
        batch_op.drop_index(batch_op.f("ix_partner_assertions_expires_at"))
    op.drop_table("partner_assertions")
    with op.batch_alter_table("org_admin_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_org_admin_tokens_partner_family_id"))
        batch_op.drop_index(batch_op.f("ix_org_admin_tokens_family_id"))
        batch_op.drop_index(batch_op.f("ix_org_admin_tokens_expires_at"))
    op.drop_table("org_admin_tokens")
