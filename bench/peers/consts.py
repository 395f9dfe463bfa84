"""Toy credentials the peers' seeds and bench.py share: benchmark-only values for throwaway
databases (SQLite files under $BENCH_BASE, PostgreSQL databases the bench creates)."""

# django-oauth-toolkit (dotsite/)
DOT_USER = "bench"
DOT_BENCH_TOKEN = "dot-bench-access-token-0123456789abcdef"  # scope read write introspection
DOT_CC_HASHED_ID = "dot-cc-hashed"  # client_credentials, secret hashed (DOT's default)
DOT_CC_PLAIN_ID = "dot-cc-plain"  # client_credentials, hash_client_secret=False
DOT_AC_PLAIN_ID = "dot-ac-plain"  # authorization_code app owning the refresh tokens
DOT_SECRET = "dot-bench-secret-0123456789abcdef0123456789abcdef"

# stock Authlib (authlib_app.py)
AUTHLIB_CLIENT_ID = "authlib-bench-client"
AUTHLIB_CLIENT_SECRET = "authlib-bench-secret-0123456789abcdef0123456789"
AUTHLIB_BENCH_TOKEN = "authlib-bench-access-token-0123456789abcdef"
