"""The OAuth 2.0 authorization server (Authlib): clients, codes, tokens and their lineages."""
