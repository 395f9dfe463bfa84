"""sso codes: the single-use codes of Sure's mobile and desktop SSO hand-off

Exchange codes (5 minutes, the token block minted at the callback), linking codes (10 minutes,
an unlinked upstream identity and the device) and desktop codes (2 minutes, PKCE-bound): stored
as SHA-256 digests with their payload encrypted, consumed by a conditional UPDATE.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 14:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sso_codes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("session_epoch", sa.Integer(), nullable=True),
        sa.Column("payload_encrypted", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("consumed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_codes")),
        sa.UniqueConstraint("code_digest", name=op.f("uq_sso_codes_code_digest")),
    )
    with op.batch_alter_table("sso_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sso_codes_expires_at"), ["expires_at"], unique=False)


def downgrade():
    with op.batch_alter_table("sso_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sso_codes_expires_at"))
    op.drop_table("sso_codes")
