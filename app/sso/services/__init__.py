"""SSO services: providers (configuration, Authlib clients), identities (links, accounts),
and the mobile/desktop codes."""
