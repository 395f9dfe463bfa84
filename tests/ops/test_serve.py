"""The README's ``flask --app wsgi serve`` (gunicorn, 2 workers): /metrics sums every
worker's counts (Prometheus' multiprocess mode, its directory emptied at start), /readyz says
503 once Redis behind a TCP proxy is cut, and LOG_FORMAT=json replaces gunicorn's text access
log with the app's JSON lines."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.servers import BIN, free_port, running_server, server_env
from tests.support.tcpproxy import TcpProxy

pytestmark = pytest.mark.slow
HEALTHZ = {"endpoint": "ops.healthz", "method": "GET", "status": "2xx"}


@pytest.fixture
def redis_port() -> Iterator[int]:
    """A private redis-server (the proxy in front of it is what the test cuts)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    import redis

    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis(port=port, socket_connect_timeout=0.5).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)
    yield port
    process.terminate()
    process.wait(timeout=10)


def healthz_count(base: str) -> float:
    body = requests.get(base + "/metrics", timeout=10).text
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if (
                sample.name == "tollgate_http_request_duration_seconds_count"
                and sample.labels == HEALTHZ
            ):
                return float(sample.value)
    return 0.0


def test_readme_serve_sums_workers_metrics_and_reports_a_cut_redis(tmp_path: Path, redis_port):
    proxy = TcpProxy(("127.0.0.1", redis_port))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = server_env(
        tmp_path, base, REDIS_URL=f"redis://127.0.0.1:{proxy.port}/7", LOG_FORMAT="json"
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    metrics_dir = tmp_path / "prometheus"  # instance/prometheus: serve's default
    metrics_dir.mkdir()
    # A previous run's file: counted into the sum (or unreadable) unless serve empties the dir.
    (metrics_dir / "histogram_999999.db").write_bytes(b"not a prometheus file")
    command = [str(BIN / "flask"), "--app", "wsgi", "serve", "--port", str(port)]
    log_path = tmp_path / "serve.log"
    with running_server(env, port, log_path, command=command):
        # Bursts of parallel requests until both workers have served some, each into its own
        # file (on a loaded machine one worker may take a whole burst; bounded).
        requests_sent = 0
        pids: set[str] = set()
        for _ in range(20):
            with ThreadPoolExecutor(max_workers=12) as pool:
                statuses = list(
                    pool.map(
                        lambda _: requests.get(base + "/healthz", timeout=10).status_code,
                        range(60),
                    )
                )
            assert statuses == [200] * 60
            requests_sent += 60
            pids = {path.stem.split("_")[-1] for path in metrics_dir.glob("histogram_*.db")}
            if len(pids) == 2:
                break
        assert len(pids) == 2, sorted(metrics_dir.iterdir())
        # ... and whichever worker answers /metrics reports the sum.
        assert [healthz_count(base) for _ in range(6)] == [requests_sent] * 6

        ready = requests.get(base + "/readyz", timeout=10)
        assert ready.status_code == 200
        assert ready.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}

        proxy.cut()
        for _ in range(4):  # every worker notices, each within its one-second time-outs
            started = time.monotonic()
            cut = requests.get(base + "/readyz", timeout=10)
            assert time.monotonic() - started < 5
            assert cut.status_code == 503
            assert cut.headers["Cache-Control"] == "no-store"
            assert cut.json() == {
                "status": "unavailable",
                "checks": {"database": "ok", "redis": "unreachable"},
            }
        assert requests.get(base + "/healthz", timeout=10).status_code == 200

    log = log_path.read_text().splitlines()
    access = [json.loads(line) for line in log if line.startswith('{"time"')]
    assert {"ops.healthz", "ops.readyz", "ops.metrics_view"} <= {e["route"] for e in access}
    assert not [line for line in log if "GET /healthz HTTP/1.1" in line]  # no text access log
