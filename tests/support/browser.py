"""A real Chromium: Debian's /usr/bin/chromium (or ``CHROMIUM_PATH``), driven by Playwright."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))

# No background traffic: this machine has no network beyond loopback.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Skipped with a reason when Chromium is missing, unless REQUIRE_BROWSER=1 (set by .ci/run,
# which installs it): there a missing browser is a failure, not a skip.
needs_browser = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists() and os.environ.get("REQUIRE_BROWSER") != "1",
        reason=f"{CHROMIUM} not installed (apt-get install chromium); .ci/run installs it",
    ),
]


# --- the keyboard alone --------------------------------------------------------------------------


def tab_to(page, selector: str, limit: int = 80) -> None:  # type: ignore[no-untyped-def]
    """Press Tab until the focused element matches ``selector`` (fails if it never does)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(
            "s => !!document.activeElement && document.activeElement.matches(s)", selector
        ):
            return
    raise AssertionError(f"Tab never reached {selector}")


def wait_focused(page, selector: str, timeout: float = 5000) -> None:  # type: ignore[no-untyped-def]
    """Wait until ``selector`` has the focus: autofocus lands after the load event, which on a
    busy machine can trail the navigation a test waited for."""
    page.locator(f"{selector}:focus").wait_for(timeout=timeout)
