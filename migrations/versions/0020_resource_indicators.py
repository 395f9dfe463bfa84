"""resource indicators (RFC 8707): the resources a code and a lineage were authorized for,
and the audience of each access token

Three nullable text columns (space-separated resource identifiers); NULL means what every
existing row means: not restricted, the whole server.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 14:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("oauth2_authorization_codes", sa.Column("resource", sa.Text(), nullable=True))
    op.add_column("oauth2_tokens", sa.Column("resource", sa.Text(), nullable=True))
    op.add_column("oauth2_tokens", sa.Column("audience", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("oauth2_tokens") as batch_op:
        batch_op.drop_column("audience")
        batch_op.drop_column("resource")
    with op.batch_alter_table("oauth2_authorization_codes") as batch_op:
        batch_op.drop_column("resource")
