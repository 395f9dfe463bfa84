"""Sure's first-party account API: /api/v1/auth/* and /api/v1/users/*."""
