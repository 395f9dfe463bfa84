#!/usr/bin/env python3
"""What one request costs the whole gunicorn worker that serves it, in instructions.

``hotpaths.py`` counts an app's own work, called in-process; req/s in RESULTS.md also pays for
gunicorn (accept, parse, the WSGI environ, writing the response) and for anything that happens
between requests (the garbage collector). This counts all of it, for Tollgate and the peers on
the same terms: the server runs under ``valgrind --tool=callgrind`` with one sync worker, wrk
(one connection) warms it for 3 s and then loads it; the worker's instructions, counted from its
fork to its exit, are taken for a short and a long load, and

    (instructions_long - instructions_short) / (requests_long - requests_short)

cancels its start-up and imports. A count, not a time: with the default loads (4 s and 14 s,
some 250 requests apart) it repeats on a busy machine to within a few per cent (1.87 M and
1.91 M for B); shorter loads do not (3 s and 8 s once gave B 3.07 M: a one-off such as a full
collection spread over too few requests).

    python bench/worker_callgrind.py --case C0 --database sqlite
    python bench/worker_callgrind.py --case AL

Run it after ``bash bench/run.sh`` with the cases it names (it serves the databases that run
seeded under $BENCH_BASE, default /tmp/tollgate-bench, with the same environment and venvs),
never beside a bench run. Case B re-seeds the baseline's database with a token of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench  # noqa: E402 (bench/bench.py: the servers, their environments, the credentials)

CASES = ("A", "B", "C0", "D0", "CC", "I", "AL", "ALC", "DG", "DI")
FORM = str(HERE / "form.lua")


def request_of(case: str, creds: dict[str, str]) -> tuple[str, dict[str, str], dict[str, str]]:
    """The case's path, headers and wrk script environment (form.lua's body and auth)."""
    cc = urlencode(bench.CC_FORM)
    if case == "A":
        return "/ping", {}, {}
    if case == "B":
        return "/me", bench.bearer_of(creds["baseline"]), {}
    if case == "C0":
        return "/api/v1/usage", bench.bearer_of(creds["access_token"]), {}
    if case == "D0":
        return "/api/v1/usage", {"X-Api-Key": creds["api_key"]}, {}
    if case == "CC":
        return "/oauth/token", {}, {"BENCH_BODY": cc, "BENCH_AUTH": creds["service_basic"]}
    if case == "I":
        body = urlencode({"token": creds["access_token"]})
        return "/oauth/introspect", {}, {"BENCH_BODY": body, "BENCH_AUTH": creds["client_basic"]}
    if case == "AL":
        return "/api/me", bench.bearer_of(bench.AUTHLIB_BENCH_TOKEN), {}
    if case == "ALC":
        auth = bench.basic(bench.AUTHLIB_CLIENT_ID, bench.AUTHLIB_CLIENT_SECRET)
        return "/oauth/token", {}, {"BENCH_BODY": cc, "BENCH_AUTH": auth}
    if case == "DG":
        return "/api/me", bench.bearer_of(bench.DOT_BENCH_TOKEN), {}
    body = urlencode({"token": bench.DOT_BENCH_TOKEN})  # DI
    auth = f"Bearer {bench.DOT_BENCH_TOKEN}"
    return "/o/introspect/", {}, {"BENCH_BODY": body, "BENCH_AUTH": auth}


def wrk_requests(url: str, seconds: int, headers: dict[str, str], script: dict[str, str]) -> int:
    command = ["wrk", "-t1", "-c1", f"-d{seconds}s", *(["-s", FORM] if script else [])]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run(
        [*command, url], capture_output=True, text=True, env={**os.environ, **script}, check=True
    )
    if "Non-2xx" in done.stdout:
        raise SystemExit(f"{url}: non-2xx answers\n{done.stdout}")
    return int(re.search(r"(\d+) requests in", done.stdout).group(1))  # type: ignore[union-attr]


def worker_count(
    server: bench.Server,
    path: str,
    seconds: int,
    headers: dict[str, str],
    script: dict[str, str],
) -> tuple[int, int]:
    """(instructions, requests) of one worker's life: started, warmed, loaded, stopped."""
    metrics_dir = server.env.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:  # emptied per start, as Server.start and serve do
        shutil.rmtree(metrics_dir, ignore_errors=True)
        Path(metrics_dir).mkdir(parents=True)
    port = bench.free_port()
    out = Path("/tmp") / f"worker-callgrind-{os.getpid()}"
    out.mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [
            *("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/%p.out"),
            *(str(server.bin / "python"), str(server.bin / "gunicorn"), "-w", "1"),
            *("-b", f"127.0.0.1:{port}", "--timeout", "600", "--log-level", "warning"),
            server.module,
        ],
        cwd=server.cwd,
        env=server.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(base + server.probe, timeout=60)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(f"{server.name} did not start under valgrind") from None
                time.sleep(0.5)
        children = subprocess.run(
            ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True, check=True
        ).stdout.split()
        worker = children[-1]
        requests = 1 + sum(wrk_requests(base + path, s, headers, script) for s in (3, seconds))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)
    annotated = subprocess.run(
        ["callgrind_annotate", str(out / f"{worker}.out")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    shutil.rmtree(out, ignore_errors=True)
    total = re.search(r"([\d,]+)\s+(?:\(100\.0%\)\s+)?PROGRAM TOTALS", annotated)
    return int(total.group(1).replace(",", "")), requests  # type: ignore[union-attr]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", choices=CASES, required=True)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seconds", default="4,14", help="the short and the long load")
    args = parser.parse_args()
    base = Path(os.environ.get("BENCH_BASE", "/tmp/tollgate-bench"))
    data = base / "data" / args.database
    creds = json.loads((data / "creds.json").read_text())
    name = bench.CASES[args.case][0]
    if args.case == "B":  # run.sh keeps the baseline's token in memory only
        creds["baseline"] = "bl_" + os.urandom(32).hex()
        urls = bench.database_urls(data, args.database)
        subprocess.run(
            [
                str(bench.BIN / "python"),
                str(HERE / "baseline_app.py"),
                "seed",
                str(data / "baseline.sqlite3"),  # as run.sh seeds it (ignored on PostgreSQL)
                creds["baseline"],
            ],
            check=True,
            env={**os.environ, **bench.baseline_env(data, urls)},
        )
    options = argparse.Namespace(workers=1, peers_venv=base / "peers-venv", selected=[args.case])
    server = bench.make_servers(options, args.database, data, base / "logs")[name]
    path, headers, script = request_of(args.case, creds)
    short, long = (int(s) for s in args.seconds.split(","))
    instructions_short, requests_short = worker_count(server, path, short, headers, script)
    instructions_long, requests_long = worker_count(server, path, long, headers, script)
    per_request = (instructions_long - instructions_short) / (requests_long - requests_short)
    print(
        f"{args.case} {args.database}: {per_request / 1e6:.2f} M instructions per request "
        f"(one gunicorn worker, whole; {requests_short} and {requests_long} requests)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
