"""client lifecycle: deleted clients are kept as tombstones

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 18:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('oauth2_clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('oauth2_clients', schema=None) as batch_op:
        batch_op.drop_column('deleted_at')
