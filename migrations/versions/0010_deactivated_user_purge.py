"""deactivated-user purge

Users remember when they were deactivated (the purge job deletes them after a grace
period); a family reset job's requester may be gone (purged) while the family stays.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 18:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deactivated_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_users_deactivated_at'), ['deactivated_at'],
                              unique=False)
    # Users deactivated before this revision: their last change was the deactivation.
    users = sa.table('users', sa.column('active', sa.Boolean()),
                     sa.column('updated_at', sa.DateTime()),
                     sa.column('deactivated_at', sa.DateTime()))
    op.execute(users.update().where(users.c.active == sa.false())
               .values(deactivated_at=users.c.updated_at))
    with op.batch_alter_table('family_reset_jobs', schema=None) as batch_op:
        batch_op.alter_column('requested_by', existing_type=sa.Uuid(), nullable=True)


def downgrade():
    # Jobs whose requester was purged cannot name one again.
    jobs = sa.table('family_reset_jobs', sa.column('requested_by', sa.Uuid()))
    op.execute(jobs.delete().where(jobs.c.requested_by.is_(None)))
    with op.batch_alter_table('family_reset_jobs', schema=None) as batch_op:
        batch_op.alter_column('requested_by', existing_type=sa.Uuid(), nullable=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_deactivated_at'))
        batch_op.drop_column('deactivated_at')
