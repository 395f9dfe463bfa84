"""tenancy kinds, plan features and regions

RedCloud and Surfsight: a tenant's kind (family, partner, organization) and owning partner,
its plan features and status, the ssoSecret version of organizations; the partner flag of
users; the region of tenants, users and OAuth token rows (a credential works only in the
region that issued it).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 09:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("families", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=20), server_default="family", nullable=False)
        )
        batch_op.add_column(sa.Column("partner_family_id", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("region", sa.String(length=32), server_default="default", nullable=False)
        )
        batch_op.add_column(
            sa.Column("features", sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )
        batch_op.add_column(sa.Column("sso_secret_version", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.create_index(
            batch_op.f("ix_families_partner_family_id"), ["partner_family_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_families_partner_family_id_families"),
            "families",
            ["partner_family_id"],
            ["id"],
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_partner", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("region", sa.String(length=32), server_default="default", nullable=False)
        )
    with op.batch_alter_table("oauth2_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("region", sa.String(length=32), server_default="default", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("oauth2_tokens", schema=None) as batch_op:
        batch_op.drop_column("region")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("region")
        batch_op.drop_column("is_partner")
    with op.batch_alter_table("families", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_families_partner_family_id_families"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_families_partner_family_id"))
        batch_op.drop_column("active")
        batch_op.drop_column("sso_secret_version")
        batch_op.drop_column("features")
        batch_op.drop_column("region")
        batch_op.drop_column("partner_family_id")
        batch_op.drop_column("kind")
