"""RedCloud's break-glass master key (``X-Master-Key``).

Off by default; on only while ``BREAK_GLASS_ENABLED``, a ``MASTER_KEY`` of at least 32
characters and a future ``BREAK_GLASS_EXPIRES_AT`` are all configured. A break-glass request
names one tenant (``X-Tenant-ID``), states a reason in production (``X-Break-Glass-Reason``),
is rate-limited for the whole deployment and per IP, and is written to the audit log before
the view runs (no audit row, no request: 503). It acts with a configured permission set —
never ``*``, platform or credential-minting permissions — and is never a super-admin.
"""
