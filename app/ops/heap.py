"""The serving process's heap after start-up: what it loaded lives as long as the process.

A worker holds some 145 k objects that the garbage collector tracks once the app is built
(modules, SQLAlchemy's mappers and compiled statements, Authlib's grants, Jinja's templates,
the OpenAPI document...). None of them is ever garbage, yet every full collection walks all of
them: on the bench's gate case about one full collection in several thousand requests, some
0.12 s each on this machine kind — a stall that lands in some request's latency. Freezing
them (``gc.freeze``: moved to a permanent generation that collections skip; CPython's advice for
long-lived objects, and Instagram's for forked servers) leaves the collector only the request's
own objects. Garbage made during start-up is collected first, so none is frozen for good.

Only the serving entry points call it (``wsgi.py`` and ``serve``'s worker): a test process
builds many apps and must be able to collect them.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> int:
    """Collect start-up garbage, then exempt every surviving object from future collections;
    returns how many objects are now frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
