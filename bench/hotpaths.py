#!/usr/bin/env python3
"""Where a hot path's time goes: one bench case served in-process, without gunicorn or wrk.

The WSGI app is called directly with the case's request (bench.py's seed and credentials), so
what is measured is Tollgate's own work per request. Three measures:

- ``--cprofile``: cProfile over the requests; prints the top frames by cumulative time
  (``--top``), Tollgate's and its libraries', to attribute the cost;
- ``--callgrind``: run under ``valgrind --tool=callgrind --instr-atstart=no``; only the timed
  requests are counted, and ``callgrind_annotate`` then gives instructions per request — a
  count, not a time, so it repeats exactly whatever else the machine is doing (bench/README.md
  "Where the time goes" lists the counts before and after each change);
- ``--gc``: the garbage collector's collections and time per request, with the heap as
  ``create_app`` leaves it and then as a serving worker freezes it (app/ops/heap.py).

Without any of them it prints CPU microseconds per request (best of three).

    python bench/hotpaths.py --case C0 --database sqlite --cprofile
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.out \\
        python bench/hotpaths.py --case C0 --callgrind --requests 200
    callgrind_annotate /tmp/cg.out | grep 'PROGRAM TOTALS'     # / 200 = per request

Seeds ``--data`` (default /tmp/tollgate-profile/<database>) on first use; PostgreSQL uses the
bench's database names (``BENCH_PG_PREFIX``), so do not run it beside a bench run.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench  # noqa: E402 (bench/bench.py: the seed, the credentials, the cases' requests)

CASES = ("C0", "D0", "C", "D", "CC", "I", "F")
REFRESH_SEEDED = 20_000


def _request(case: str, creds: dict[str, str], refresh: Any) -> tuple[str, str, dict, bytes]:
    bearer = {"HTTP_AUTHORIZATION": "Bearer " + creds["access_token"]}
    key = {"HTTP_X_API_KEY": creds["api_key"]}
    form = {"CONTENT_TYPE": "application/x-www-form-urlencoded"}
    if case == "C0":
        return "GET", "/api/v1/usage", bearer, b""
    if case == "D0":
        return "GET", "/api/v1/usage", key, b""
    if case == "C":
        return "GET", "/api/v1/accounts", bearer, b""
    if case == "D":
        return "GET", "/api/v1/accounts", key, b""
    if case == "CC":
        body = b"grant_type=client_credentials&scope=read"
        client_auth = {"HTTP_AUTHORIZATION": creds["service_basic"], **form}
        return "POST", "/oauth/token", client_auth, body
    if case == "I":
        body = ("token=" + creds["access_token"]).encode()
        caller_auth = {"HTTP_AUTHORIZATION": creds["client_basic"], **form}
        return "POST", "/oauth/introspect", caller_auth, body
    body = json.dumps({"refresh_token": next(refresh), "device": bench.DEVICE}).encode()
    return "POST", "/api/v1/auth/refresh", {"CONTENT_TYPE": "application/json"}, body


def caller(app: Any, case: str, creds: dict[str, str], refresh: Any) -> Callable[[], None]:
    def call() -> None:
        method, path, headers, body = _request(case, creds, refresh)
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1:8000",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.version": (1, 0),
            **headers,
        }
        status: list[str] = []
        out = b"".join(app.wsgi_app(environ, lambda s, h, e=None: status.append(s)))
        if not status[0].startswith("2"):
            raise SystemExit(f"{case}: {status[0]} {out[:300]!r}")

    return call


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", choices=CASES, default="C0")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warm", type=int, default=50)
    parser.add_argument("--top", type=int, default=40)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--cprofile", action="store_true")
    mode.add_argument("--callgrind", action="store_true")
    mode.add_argument("--gc", action="store_true", help="the garbage collector's share")
    args = parser.parse_args()
    data = args.data or Path("/tmp/tollgate-profile") / args.database
    if not (data / "creds.json").exists():
        if args.database == "postgres":
            bench.create_pg_databases({"tollgate"})
        subprocess.run(
            [
                sys.executable,
                str(HERE / "bench.py"),
                "--seed-only",
                str(data),
                args.database,
                str(REFRESH_SEEDED),
            ],
            check=True,
        )
    creds = json.loads((data / "creds.json").read_text())
    env = bench.tollgate_env(data, args.database)
    Path(env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
    os.environ.update(env)
    from app import create_app
    from app.ops.heap import freeze_startup_objects

    app = create_app()
    tokens = (data / "refresh_tokens.txt").read_text().split()
    needed = args.warm + args.requests * (4 if not (args.cprofile or args.callgrind) else 1)
    start = random.randrange(0, max(1, len(tokens) - needed))  # never-used ones, mostly
    call = caller(app, args.case, creds, iter(tokens[start:]))
    for _ in range(args.warm):
        call()
    if args.callgrind:
        control = ["callgrind_control", "-i"]
        subprocess.run([*control, "on", str(os.getpid())], check=True, capture_output=True)
        for _ in range(args.requests):
            call()
        subprocess.run([*control, "off", str(os.getpid())], check=True, capture_output=True)
        print(f"{args.case} {args.database}: {args.requests} requests counted")
        return 0
    if args.gc:
        print(f"{args.case} {args.database}: {len(gc.get_objects())} objects tracked")
        print("  as create_app leaves the heap:", _collector_share(call, args.requests))
        frozen = freeze_startup_objects()
        print(f"  after freeze_startup_objects() ({frozen} frozen), as a serving worker:")
        print("  ", _collector_share(call, args.requests))
        return 0
    if args.cprofile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.requests):
            call()
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
        print(out.getvalue())
        return 0
    best = min(_cpu_seconds(call, args.requests) for _ in range(3))
    print(f"{args.case} {args.database}: {best / args.requests * 1e6:.0f} µs CPU per request")
    return 0


def _collector_share(call: Callable[[], None], requests: int) -> str:
    """Collections per generation over ``requests`` requests, and their time per request."""
    counts, seconds, started = [0, 0, 0], [0.0, 0.0, 0.0], [0.0]

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            counts[info["generation"]] += 1
            seconds[info["generation"]] += time.perf_counter() - started[0]

    gc.callbacks.append(watch)
    try:
        for _ in range(requests):
            call()
    finally:
        gc.callbacks.remove(watch)
    return ", ".join(
        f"generation {g}: {counts[g]} collections, {seconds[g] / requests * 1e6:.1f} µs/request"
        for g in range(3)
    )


def _cpu_seconds(call: Callable[[], None], requests: int) -> float:
    started = time.process_time()
    for _ in range(requests):
        call()
    return time.process_time() - started


if __name__ == "__main__":
    sys.exit(main())
