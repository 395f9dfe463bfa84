"""api keys remember the OAuth client (and token lineage) that created them

Revoking a user's authorization of an application revokes the API keys it created too.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 18:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_by_client_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('created_by_lineage_id', sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f('ix_api_keys_created_by_client_id'), ['created_by_client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_api_keys_created_by_lineage_id'), ['created_by_lineage_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_api_keys_created_by_client_id_oauth2_clients'), 'oauth2_clients', ['created_by_client_id'], ['client_id'])


def downgrade():
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_api_keys_created_by_client_id_oauth2_clients'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_api_keys_created_by_lineage_id'))
        batch_op.drop_index(batch_op.f('ix_api_keys_created_by_client_id'))
        batch_op.drop_column('created_by_lineage_id')
        batch_op.drop_column('created_by_client_id')
