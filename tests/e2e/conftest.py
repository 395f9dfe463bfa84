"""Fixtures for the end-to-end tests: a real Tollgate server process (gunicorn) on loopback,
seeded through the CLI contract, and a real Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.browser import CHROMIUM, LAUNCH_ARGS
from tests.support.servers import (
    PASSWORD,
    REDIRECT_URI,
    LiveServer,
    free_port,
    running_server,
    server_env,
)

if TYPE_CHECKING:  # Playwright is imported only once a browser test runs
    from playwright.sync_api import Browser


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("live")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = server_env(workdir, base_url)
    with running_server(env, port, workdir / "gunicorn.log"):
        yield LiveServer(base_url, env)


@pytest.fixture(scope="session")
def live_user(live_server: LiveServer) -> dict[str, Any]:
    return live_server.cli(
        "users",
        "create",
        "--email",
        "live@example.com",
        "--password",
        PASSWORD,
        "--first-name",
        "Live",
    )


@pytest.fixture
def live_client(live_server: LiveServer) -> dict[str, Any]:
    return live_server.cli(
        "clients",
        "create",
        "--name",
        "Live Client",
        "--redirect-uri",
        REDIRECT_URI,
        "--scope",
        "read read_write",
    )


# --- a real Chromium (Debian's /usr/bin/chromium, driven by Playwright) -----------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield instance
        instance.close()
