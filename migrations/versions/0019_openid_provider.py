"""openid provider: ID token signing keys, OpenID details on codes, logout URIs on clients

The signing keys (private halves Fernet-encrypted, cleared on retirement); each code keeps the
request's nonce and the sign-in behind it (auth_time, amr) for the ID tokens of its lineage;
each client its post_logout_redirect_uris and id_token_signed_response_alg.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 14:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "oidc_signing_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=8), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("private_jwk_encrypted", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("retired_at", sa.DateTime(), nullable=True),
        sa.Column("published_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_signing_keys")),
        sa.UniqueConstraint("alg", "generation", name=op.f("uq_oidc_signing_keys_alg")),
        sa.UniqueConstraint("kid", name=op.f("uq_oidc_signing_keys_kid")),
    )
    with op.batch_alter_table("oidc_signing_keys") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oidc_signing_keys_published_until"), ["published_until"], unique=False
        )
    op.add_column(
        "oauth2_authorization_codes", sa.Column("nonce", sa.String(length=255), nullable=True)
    )
    op.add_column(
        "oauth2_authorization_codes", sa.Column("authenticated_at", sa.DateTime(), nullable=True)
    )
    op.add_column("oauth2_authorization_codes", sa.Column("amr", sa.JSON(), nullable=True))
    op.create_index(
        op.f("ix_oauth2_authorization_codes_nonce"),
        "oauth2_authorization_codes",
        ["nonce"],
        unique=False,
    )
    op.add_column(
        "oauth2_clients",
        sa.Column("post_logout_redirect_uris", sa.JSON(), server_default="[]", nullable=False),
    )
    op.add_column(
        "oauth2_clients",
        sa.Column("id_token_signed_response_alg", sa.String(length=8), nullable=True),
    )


def downgrade():
    with op.batch_alter_table("oauth2_clients") as batch_op:
        batch_op.drop_column("id_token_signed_response_alg")
        batch_op.drop_column("post_logout_redirect_uris")
    op.drop_index(
        op.f("ix_oauth2_authorization_codes_nonce"), table_name="oauth2_authorization_codes"
    )
    with op.batch_alter_table("oauth2_authorization_codes") as batch_op:
        batch_op.drop_column("amr")
        batch_op.drop_column("authenticated_at")
        batch_op.drop_column("nonce")
    op.drop_table("oidc_signing_keys")
