"""access keys and cloud accounts

SecureCloud: tenant-owned access keys (their id is the JWT's jti), the roles given to each key
and the Cloud Account Viewer's account selection; and the cloud accounts they are about (the
example resource).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 09:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "cloud_accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_cloud_accounts_family_id_families")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cloud_accounts")),
    )
    with op.batch_alter_table("cloud_accounts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cloud_accounts_family_id"), ["family_id"], unique=False
        )

    op.create_table(
        "access_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("removed_at", sa.DateTime(), nullable=True),
        sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_access_keys_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_access_keys_family_id_families")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_keys")),
    )
    with op.batch_alter_table("access_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_access_keys_created_by_user_id"), ["created_by_user_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_access_keys_family_id"), ["family_id"], unique=False)
        batch_op.create_index(
            "uq_access_keys_family_name",
            ["family_id", "name"],
            unique=True,
            postgresql_where=sa.text("removed_at IS NULL"),
            sqlite_where=sa.text("removed_at IS NULL"),
        )

    op.create_table(
        "access_key_roles",
        sa.Column("key_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("all_accounts", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["access_keys.id"],
            name=op.f("fk_access_key_roles_key_id_access_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key_id", "role", name=op.f("pk_access_key_roles")),
    )

    op.create_table(
        "access_key_accounts",
        sa.Column("key_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["cloud_accounts.id"],
            name=op.f("fk_access_key_accounts_account_id_cloud_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["key_id", "role"],
            ["access_key_roles.key_id", "access_key_roles.role"],
            name="fk_access_key_accounts_key_id_access_key_roles",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "key_id", "role", "account_id", name=op.f("pk_access_key_accounts")
        ),
    )
    with op.batch_alter_table("access_key_accounts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_access_key_accounts_account_id"), ["account_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("access_key_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_key_accounts_account_id"))
    op.drop_table("access_key_accounts")
    op.drop_table("access_key_roles")
    with op.batch_alter_table("access_keys", schema=None) as batch_op:
        batch_op.drop_index("uq_access_keys_family_name")
        batch_op.drop_index(batch_op.f("ix_access_keys_family_id"))
        batch_op.drop_index(batch_op.f("ix_access_keys_created_by_user_id"))
    op.drop_table("access_keys")
    with op.batch_alter_table("cloud_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cloud_accounts_family_id"))
    op.drop_table("cloud_accounts")
