"""Administration API: granting and revoking roles (tenant admins within their family,
platform super-admins for anyone)."""
