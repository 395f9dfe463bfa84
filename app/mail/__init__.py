"""Outgoing mail: an outbox written in the caller's transaction, delivered by SMTP (or, on the
embedded default, to a file and the console)."""
