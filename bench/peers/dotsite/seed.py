"""Migrate and seed the django-oauth-toolkit peer's database ($BENCH_DOT_DB).

Usage: python -m dotsite.seed N_REFRESH TOKENS_FILE
Writes the N_REFRESH pre-minted (never used) refresh tokens, one a line, to TOKENS_FILE.
"""

import os
import secrets
import sys
import uuid
from datetime import timedelta

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dotsite.settings")
django.setup()

from consts import (  # noqa: E402
    DOT_AC_PLAIN_ID,
    DOT_BENCH_TOKEN,
    DOT_CC_HASHED_ID,
    DOT_CC_PLAIN_ID,
    DOT_SECRET,
    DOT_USER,
)
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from oauth2_provider.models import AccessToken, Application, RefreshToken  # noqa: E402


def main(n_refresh: int, tokens_file: str, n_filler: int = 10_000) -> None:
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")
    call_command("migrate", verbosity=0, interactive=False)

    user = get_user_model().objects.create_user(DOT_USER)
    Application.objects.create(
        name="cc-hashed",
        client_id=DOT_CC_HASHED_ID,
        client_secret=DOT_SECRET,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
    )  # hash_client_secret defaults to True: Django's default hasher (PBKDF2)
    Application.objects.create(
        name="cc-plain",
        client_id=DOT_CC_PLAIN_ID,
        client_secret=DOT_SECRET,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        hash_client_secret=False,
    )
    owner = Application.objects.create(
        name="ac-plain",
        client_id=DOT_AC_PLAIN_ID,
        client_secret=DOT_SECRET,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://client.example/cb",
        hash_client_secret=False,
        user=user,
    )
    now = timezone.now()
    far = now + timedelta(days=3650)
    AccessToken.objects.create(
        user=user,
        application=owner,
        token=DOT_BENCH_TOKEN,
        expires=far,
        scope="read write introspection",
    )
    AccessToken.objects.bulk_create(
        [
            AccessToken(
                user=user,
                application=owner,
                token=secrets.token_urlsafe(32),
                expires=far,
                scope="read",
            )
            for _ in range(n_filler)
        ],
        batch_size=2000,
    )
    # Pre-minted access + refresh token pairs, as if issued by an authorization_code flow.
    expires = now + timedelta(seconds=36000)
    raw = [secrets.token_urlsafe(24) for _ in range(n_refresh)]
    access = AccessToken.objects.bulk_create(
        [
            AccessToken(
                user=user,
                application=owner,
                token=secrets.token_urlsafe(24),
                expires=expires,
                scope="read write",
            )
            for _ in range(n_refresh)
        ],
        batch_size=2000,
    )
    RefreshToken.objects.bulk_create(
        [
            RefreshToken(
                user=user,
                application=owner,
                token=value,
                access_token=token,
                token_family=uuid.uuid4(),
            )
            for value, token in zip(raw, access, strict=True)
        ],
        batch_size=2000,
    )
    with open(tokens_file, "w") as handle:
        handle.write("\n".join(raw) + "\n")
    print(
        f"dot peer seeded ({connection.vendor}): 3 apps, {AccessToken.objects.count()} access "
        f"tokens, {RefreshToken.objects.count()} refresh tokens"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
