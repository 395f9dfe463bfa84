"""The append-only audit log of credential events."""
