"""Outgoing mail: an outbox written in the caller's transaction, delivered by SMTP (or, on the
embedded default, to a file and the console).

A feature calls ``services.enqueue`` inside its unit of work (no commit) and
``services.deliver_pending(now=utcnow())`` right after its commit; see ``services``."""
