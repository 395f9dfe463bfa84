"""secret keys

SureCloud secret keys (a digest, created at reveal), their single-use reveal links (digests),
the JWTs issued for them (by jti, so one can be revoked), the users' IP restrictions, and the
tenant's tasks (the example resource).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 10:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

LIVE = sa.text("revoked_at IS NULL")


def upgrade():
    op.create_table(
        "secret_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("key_digest", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revealed_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_secret_keys_created_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_secret_keys_family_id_families")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_secret_keys_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secret_keys")),
        sa.UniqueConstraint("key_digest", name=op.f("uq_secret_keys_key_digest")),
    )
    with op.batch_alter_table("secret_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_secret_keys_created_by_user_id"), ["created_by_user_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_secret_keys_family_id"), ["family_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_secret_keys_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            "uq_secret_keys_live_user",
            ["user_id"],
            unique=True,
            postgresql_where=LIVE,
            sqlite_where=LIVE,
        )

    op.create_table(
        "secret_key_reveal_links",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("secret_key_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("superseded_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["secret_key_id"],
            ["secret_keys.id"],
            name=op.f("fk_secret_key_reveal_links_secret_key_id_secret_keys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_secret_key_reveal_links_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secret_key_reveal_links")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_secret_key_reveal_links_token_digest")),
    )
    with op.batch_alter_table("secret_key_reveal_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_secret_key_reveal_links_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_secret_key_reveal_links_secret_key_id"), ["secret_key_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_secret_key_reveal_links_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "secret_key_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("secret_key_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_secret_key_tokens_family_id_families")
        ),
        sa.ForeignKeyConstraint(
            ["secret_key_id"],
            ["secret_keys.id"],
            name=op.f("fk_secret_key_tokens_secret_key_id_secret_keys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_secret_key_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_secret_key_tokens")),
    )
    with op.batch_alter_table("secret_key_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_secret_key_tokens_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_secret_key_tokens_family_id"), ["family_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_secret_key_tokens_secret_key_id"), ["secret_key_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_secret_key_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "user_ip_restrictions",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("entries", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_ip_restrictions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_ip_restrictions")),
    )

    op.create_table(
        "tasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_tasks_family_id_families")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tasks_family_id"), ["family_id"], unique=False)


def downgrade():
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_family_id"))
    op.drop_table("tasks")
    op.drop_table("user_ip_restrictions")
    with op.batch_alter_table("secret_key_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_secret_key_tokens_user_id"))
        batch_op.drop_index(batch_op.f("ix_secret_key_tokens_secret_key_id"))
        batch_op.drop_index(batch_op.f("ix_secret_key_tokens_family_id"))
        batch_op.drop_index(batch_op.f("ix_secret_key_tokens_expires_at"))
    op.drop_table("secret_key_tokens")
    with op.batch_alter_table("secret_key_reveal_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_secret_key_reveal_links_user_id"))
        batch_op.drop_index(batch_op.f("ix_secret_key_reveal_links_secret_key_id"))
        batch_op.drop_index(batch_op.f("ix_secret_key_reveal_links_expires_at"))
    op.drop_table("secret_key_reveal_links")
    with op.batch_alter_table("secret_keys", schema=None) as batch_op:
        batch_op.drop_index("uq_secret_keys_live_user", postgresql_where=LIVE, sqlite_where=LIVE)
        batch_op.drop_index(batch_op.f("ix_secret_keys_user_id"))
        batch_op.drop_index(batch_op.f("ix_secret_keys_family_id"))
        batch_op.drop_index(batch_op.f("ix_secret_keys_created_by_user_id"))
    op.drop_table("secret_keys")
