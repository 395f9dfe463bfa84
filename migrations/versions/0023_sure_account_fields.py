"""sure account fields: accounts carry Sure's shape

Sure's accounts API (app/views/api/v1/accounts/_account.json.jbuilder) prints account_type,
classification, subtype, status, cash_balance, institution_name and institution_domain, and
Sure's Flutter client refuses an account without account_type. Existing accounts become
active depository accounts whose cash balance is their balance (a depository account is all
cash in Sure). Classification is derived from the type, as Sure's generated column is.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03 14:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(precision=19, scale=4).with_variant(sa.String(length=32), "sqlite")


def upgrade():
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "account_type", sa.String(length=32), server_default="depository", nullable=False
            )
        )
        batch_op.add_column(sa.Column("subtype", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("status", sa.String(length=32), server_default="active", nullable=False)
        )
        batch_op.add_column(sa.Column("cash_balance", MONEY, server_default="0", nullable=False))
        batch_op.add_column(sa.Column("institution_name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("institution_domain", sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f("ix_accounts_status"), ["status"], unique=False)
    op.execute("UPDATE accounts SET cash_balance = balance")


def downgrade():
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_accounts_status"))
        batch_op.drop_column("institution_domain")
        batch_op.drop_column("institution_name")
        batch_op.drop_column("cash_balance")
        batch_op.drop_column("status")
        batch_op.drop_column("subtype")
        batch_op.drop_column("account_type")
