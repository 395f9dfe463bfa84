"""first-party refresh reuse interval: successor_used_at, index on parent_id

A rotated first-party refresh token presented again within the reuse interval gets a sibling
successor; ``successor_used_at`` records on the parent that one of its successors was used
(no more retries), and the sibling lookups go through ``parent_id``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 18:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('oauth2_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('successor_used_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_oauth2_tokens_parent_id'), ['parent_id'], unique=False)


def downgrade():
    with op.batch_alter_table('oauth2_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oauth2_tokens_parent_id'))
        batch_op.drop_column('successor_used_at')
