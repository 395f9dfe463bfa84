"""RedCloud's session login: ``POST /auth/login`` gives a short-lived access JWT (``at+jwt``)
and a rotating refresh token; ``/auth/refresh``, ``/auth/me``, ``/auth/logout`` and Surfsight's
``/authenticate`` alias.

A session is a lineage of OAuth token rows of the built-in first-party client with the
profile ``session``: it shares the digests, rotation, reuse detection and revocation of every
other lineage, and only the token formats and lifetimes are its own.
"""
