"""Secret-key decisions that do not depend on HTTP, one module per noun: ``keys`` (add, resend,
revoke, the administrators' list), ``reveal``, ``tokens`` (the exchange, verification reads,
revoking one, purge) and ``ip_restrictions``. Callers import the module they need.

The key is a UUIDv4 created only when its user reveals it, and stored only as a SHA-256
digest (decision D9): no administrator, response, mail, log or audit row ever holds it. Every
function takes ``now`` and commits at most once; views deliver queued mail after the commit.
"""
