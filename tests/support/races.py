"""Races for the concurrency proofs (PostgreSQL: row locks, READ COMMITTED; SQLite serialises
every writer anyway): start many threads behind one barrier so that they really collide, each
with its own app context or test client, and collect what every one of them got back."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.database import requires_postgres

# The marks of a module whose tests only prove something on PostgreSQL.
ON_POSTGRES_ONLY = [pytest.mark.postgres, requires_postgres]

Outcome = tuple[str, Any]


def race(
    app: Flask,
    jobs: list[Callable[[], Any]],
    *,
    refused: type[BaseException] | tuple[type[BaseException], ...] = (),
    describe: Callable[[Any], Any] = lambda exc: exc,
    request_context: bool = False,
) -> list[Outcome]:
    """Run every job in a thread of its own, inside its own app context (or test request
    context), all released at once by one barrier. Each gives one outcome, in the order they
    finish: ``("ok", what the job returned)``, ``("refused", describe(exc))`` for an exception
    of a ``refused`` type, ``("error", repr(exc))`` for anything else, so a test asserting on
    the outcomes sees every surprise."""
    barrier = threading.Barrier(len(jobs))
    results: list[Outcome] = []
    lock = threading.Lock()

    def worker(job: Callable[[], Any]) -> None:
        context = app.test_request_context() if request_context else app.app_context()
        outcome: Outcome
        try:
            with context:
                barrier.wait(timeout=30)
                outcome = ("ok", job())
        except refused as exc:
            outcome = ("refused", describe(exc))
        except Exception as exc:  # collected: the caller asserts on it
            outcome = ("error", repr(exc))
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == len(jobs), results  # a thread still stuck is a failure, not a hang
    return results


def race_requests(
    app: Flask, n: int, send: Callable[[FlaskClient, int], TestResponse]
) -> list[tuple[int, Any]]:
    """``send(test_client, i)`` from n threads, one Flask test client each, released at once;
    ``(status, JSON body)`` of every response, in the order of ``i``."""
    barrier = threading.Barrier(n)

    def one(i: int) -> tuple[int, Any]:
        http = app.test_client()
        barrier.wait(timeout=30)
        response = send(http, i)
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))
