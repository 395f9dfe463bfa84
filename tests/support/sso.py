"""The operator CLI's ``sso providers add`` command line, as the SSO tests type it (in-process
through Flask's runner and in a real process through tests/support/cli.py)."""

from __future__ import annotations


def providers_add(key: str, issuer: str, client_id: str, **options: str) -> list[str]:
    """``sso providers add`` for provider ``key`` at ``issuer`` with ``client_id``; each
    keyword option is a flag (``jit_mode="link_only"`` -> ``--jit-mode link_only``)."""
    flags = [
        part for name, value in options.items() for part in (f"--{name.replace('_', '-')}", value)
    ]
    required = ["--key", key, "--issuer", issuer, "--client-id", client_id]
    return ["sso", "providers", "add", *required, *flags]
