"""OAuth decisions that do not depend on HTTP, one module per noun: ``clients``, ``codes``,
``tokens``, ``refresh`` (rotation and reuse), ``applications`` (what a user authorized) and
``purge``. Callers import the module they need; there is no facade here.

Every function takes ``now`` (and a ``caller`` where it audits) and commits at most once.
Single use is enforced with conditional UPDATEs whose row count says who won, so concurrent
redemptions and refreshes resolve to exactly one winner on PostgreSQL and SQLite alike.
"""
