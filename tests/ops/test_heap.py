"""Both serving entry points freeze what start-up loaded out of the garbage collector's walks
(app/ops/heap.py): ``gunicorn wsgi:app`` and the README's ``serve`` worker. Each is built in a
fresh interpreter, as a worker builds it, since freezing is for the life of the process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import ROOT, server_env

PROBE = """
import gc
{build}
frozen = gc.get_freeze_count()
gc.collect()
print(frozen, len(gc.get_objects()))
"""


def frozen_and_tracked(tmp_path: Path, build: str) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(build=build)],
        cwd=ROOT,
        env=server_env(tmp_path, "http://127.0.0.1:9"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    frozen, tracked = done.stdout.split()
    return int(frozen), int(tracked)


@pytest.mark.parametrize(
    "build",
    ["import wsgi", "from app.cli import worker_app; app = worker_app()"],
    ids=["gunicorn wsgi:app", "serve's worker"],
)
def test_a_serving_app_leaves_its_start_up_objects_out_of_collections(tmp_path, build):
    frozen, tracked = frozen_and_tracked(tmp_path, build)
    # The app's modules, mappers, grants and templates: tens of thousands of objects, and
    # what a full collection still walks is only what was made after start-up.
    assert frozen > 50_000
    assert tracked < frozen / 10


def test_building_an_app_elsewhere_freezes_nothing(tmp_path):
    """Tests and the CLI build apps that must stay collectable."""
    frozen, _ = frozen_and_tracked(tmp_path, "from app import create_app; app = create_app()")
    assert frozen == 0
