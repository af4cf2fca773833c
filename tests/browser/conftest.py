"""Browser fixtures: one headless Debian chromium per session, a fresh context per test.

Chromium comes from Debian (`make browser`), never from a Playwright download. Without it the
browser tests skip, loudly, unless OFFLOAD_REQUIRE_BROWSER=1 (CI) makes that a failure.

The session's chromium is started here and reached over CDP, with Playwright itself started per
test: Playwright's sync API keeps its event loop marked as running in this thread for as long
as it is open, which would break every `asyncio.run()` fixture and async test that runs after
it. Per test, Playwright opens and closes; the browser process stays.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.support import RunningInstance, free_port, wait_until

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("OFFLOAD_REQUIRE_BROWSER") == "1"
# Lean flags: two cores are shared with the rest of the suite, and nothing may phone home.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # The pages poll every 2 s: their timers must not be throttled as background work.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
]
LAPTOP = {"width": 1280, "height": 800}


def _chromium() -> Path | None:
    if CHROMIUM.exists():
        return CHROMIUM
    found = shutil.which("chromium")
    return Path(found) if found else None


def _devtools_url(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/version", timeout=2) as answer:
            return str(json.load(answer)["webSocketDebuggerUrl"])
    except OSError:
        return None


@pytest.fixture(scope="session")
def chromium_cdp() -> Iterator[str]:
    """The DevTools endpoint of a headless chromium that lives for the whole session."""
    executable = _chromium()
    if executable is None:
        message = "chromium not found (run `make browser`): browser tests SKIPPED"
        if REQUIRE_BROWSER:
            pytest.fail(message + " but OFFLOAD_REQUIRE_BROWSER=1")
        pytest.skip(message)
    profile = Path(tempfile.mkdtemp(prefix="offload-chromium-"))
    port = free_port()
    with (profile / "chromium.log").open("wb") as log:
        process = subprocess.Popen(
            [
                str(executable),
                "--headless",
                f"--remote-debugging-port={port}",
                "--remote-debugging-address=127.0.0.1",
                f"--user-data-dir={profile / 'profile'}",
                *LAUNCH_ARGS,
                "about:blank",
            ],
            stdout=log,
            stderr=log,
        )
    try:
        wait_until(
            lambda: process.poll() is not None or _devtools_url(port),
            timeout_s=30,
            interval_s=0.1,
            message="chromium's DevTools endpoint",
        )
        endpoint = _devtools_url(port)
        if endpoint is None:
            pytest.fail(f"chromium did not start: {(profile / 'chromium.log').read_text()[-2000:]}")
        yield endpoint
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(chromium_cdp: str, instance: RunningInstance) -> Iterator[Page]:
    """A page in a fresh context (own cookies) whose relative URLs go to the test instance."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.connect_over_cdp(chromium_cdp)
        context = browser.new_context(viewport=LAPTOP, base_url=instance.url)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=instance.url)
        context.set_default_timeout(10_000)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()
