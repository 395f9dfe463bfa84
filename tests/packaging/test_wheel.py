"""A non-editable install serves everything from outside the checkout: the wheel carries every
template and static file git tracks under app/ and the migrations; installed into a fresh venv
(no system site-packages), ``flask --app app db upgrade`` migrates a database to the head and
``flask --app app serve`` answers /login, /readyz and /api/docs with its vendored Swagger UI."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from alembic.script import ScriptDirectory

from tests.support.servers import ROOT, free_port


def _git_files(*args: str) -> list[str]:
    done = subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
    )
    return [line for line in done.stdout.splitlines() if (ROOT / line).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip wheel --no-deps`` of a copy of the work tree (tracked and untracked, not ignored
    files), so no stale build/ directory of the checkout leaks into it (~3 s)."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    for name in _git_files("ls-files", "--cached", "--others", "--exclude-standard"):
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(base / "dist"), "."],
        cwd=source,
        capture_output=True,
        check=True,
        timeout=300,
    )
    (built,) = (base / "dist").glob("tollgate-*.whl")
    return built


def test_wheel_carries_every_data_file_and_the_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = _git_files("ls-files", "app", "migrations")
    expected = {
        "app/migrations/" + name.removeprefix("migrations/")
        if name.startswith("migrations/")
        else name
        for name in tracked
    }
    assert sorted(expected - names) == []
    assert "app/web/static/vendor/swagger-ui/swagger-ui-bundle.js" in names
    assert "app/migrations/env.py" in names
    assert "app/migrations/alembic.ini" in names


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (without system site-packages) with the wheel and its pinned dependencies
    from the package index (~12 s here)."""
    path = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=120)
    subprocess.run(
        [str(path / "bin" / "pip"), "install", "-q", str(wheel)],
        capture_output=True,
        check=True,
        timeout=600,
    )
    return path


def _site_files(venv: Path) -> set[Path]:
    (site,) = (venv / "lib").glob("python3*/site-packages")
    return {p for p in (site / "app").rglob("*") if "__pycache__" not in p.parts}


@pytest.fixture
def outside(tmp_path: Path, venv: Path) -> dict[str, str]:
    """The environment of the installed server, run from a directory outside the checkout:
    only PATH, HOME and its database; no INSTANCE_PATH (the default must be writable)."""
    workdir = tmp_path / "run"
    workdir.mkdir()
    return {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{workdir / 'tollgate.sqlite3'}",
        "APP_ENV": "development",
        "AUTO_MIGRATE": "false",
        "REDIS_URL": "",
    }


def _run(venv: Path, env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def served(venv: Path, outside: dict[str, str], tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                str(venv / "bin" / "flask"),
                "--app",
                "app",
                "serve",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            cwd=tmp_path / "run",
            env=outside,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base_url + "/login", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log_path.read_text())
            time.sleep(0.3)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


@pytest.mark.slow
def test_installed_wheel_migrates_and_serves_from_outside_the_checkout(
    venv: Path, outside: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    run = tmp_path / "run"
    before = _site_files(venv)
    imported = _run(venv, outside, run, "python", "-c", "import app; print(app.__file__)")
    assert Path(imported.strip()).is_relative_to(venv)

    _run(venv, outside, run, "flask", "--app", "app", "db", "upgrade")
    with sqlite3.connect(run / "tollgate.sqlite3") as conn:
        applied = {row[0] for row in conn.execute("SELECT version_num FROM alembic_version")}
    assert applied == set(ScriptDirectory(str(ROOT / "migrations")).get_heads())

    base_url = request.getfixturevalue("served")
    assert requests.get(base_url + "/login", timeout=10).status_code == 200
    assert requests.get(base_url + "/readyz", timeout=10).status_code == 200
    docs = requests.get(base_url + "/api/docs", timeout=10)
    assert docs.status_code == 200
    assets = re.findall(r'(?:href|src)="(/static/vendor/swagger-ui/[^"]+)"', docs.text)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), docs.text
    for asset in assets:
        answer = requests.get(base_url + asset, timeout=10)
        assert answer.status_code == 200, asset
        assert answer.content, asset

    # The instance folder (generated secrets, locks) is outside site-packages.
    assert _site_files(venv) == before
    assert (venv / "var" / "app-instance" / "secrets.json").is_file()
