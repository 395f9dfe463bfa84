# Copy to instance/config.py to configure this deployment without environment variables.
# Every key of app/config.py's DefaultConfig may be set here; the environment still wins.
# APP_URL = "https://auth.example.com"
# SQLALCHEMY_DATABASE_URI = "postgresql://tollgate@127.0.0.1:5432/tollgate"
# REDIS_URL = "redis://127.0.0.1:6379/0"
# Sign-in through external OpenID Connect providers (or `flask sso providers add`):
# SSO_PROVIDERS = [
#     {"key": "corp", "display_name": "Corporate SSO", "issuer": "https://login.corp.example",
#      "client_id": "tollgate", "client_secret": "…", "allowed_domains": ["corp.example"],
#      "jit_mode": "create_and_link", "default_role": "admin"},
# ]
