"""Peer: a minimal django-oauth-toolkit project (SQLite or PostgreSQL)."""
