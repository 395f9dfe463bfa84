"""Personal API keys (``X-Api-Key``) and the legacy global key."""
