"""Prometheus' multiprocess mode for the README's ``serve`` (gunicorn, several workers).

Each worker counts into its own files under ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics``,
whichever worker answers it, sums them all. ``serve`` prepares the directory before gunicorn
forks: the deployer's ``PROMETHEUS_MULTIPROC_DIR``, else ``instance/prometheus``, emptied of
the previous run's files (counters start from zero with the server, as Prometheus expects).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prometheus_client import multiprocess, values


def prepare(instance_path: str) -> Path:
    """Create and empty the directory, export it to the workers and switch this process
    (whose forks become the workers) to multiprocess values. ``app.metrics`` labels every
    metric, so no value exists yet: each is created in the worker that counts it."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    directory = Path(configured) if configured else Path(instance_path, "prometheus")
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    values.ValueClass = values.get_value_class()
    return directory


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook: a worker that exits leaves its files to the sum (counters keep their
    count) but is no longer live."""
    multiprocess.mark_process_dead(worker.pid)
