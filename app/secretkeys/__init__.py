"""SureCloud secret keys: per-user keys revealed once through a mailed link, exchanged for
HS512 JWTs that are re-checked (key, token, user, IP restrictions) on every request."""
