"""SecureCloud access keys: tenant-owned JWTs with roles (and account selections), managed by
Global Admins, looked up by key id on every request."""
