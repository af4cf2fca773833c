"""Browser fixtures: one headless Debian chromium per session, a fresh context per test.

Chromium comes from Debian (`make browser`), never from a Playwright download. Without it the
browser tests skip, loudly, unless OFFLOAD_REQUIRE_BROWSER=1 (CI) makes that a failure.

The session's chromium is started here and reached over CDP, with Playwright itself started per
test: Playwright's sync API keeps its event loop marked as running in this thread for as long
as it is open, which would break every `asyncio.run()` fixture and async test that runs after
it. Per test, Playwright opens and closes; the browser process stays.

A wedged browser must fail one test, never hang the run. pytest-timeout's SIGALRM cannot be
trusted inside Playwright: it lands in Playwright's dispatcher greenlet, kills it, and every
later Playwright call (the fixture's own teardown included) then spins forever. So each test
gets a guard thread that kills chromium at its deadline, which makes every pending Playwright
call raise "browser has been closed"; the next test starts a fresh chromium. pytest-timeout is
set above that deadline for these tests, as a last resort outside Playwright.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, sync_playwright

from tests.browser.helpers import SCREENSHOTS
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
#: A browser test that runs longer than this is stuck: its chromium is killed.
TEST_DEADLINE_S = 90.0
#: pytest-timeout for browser tests: above the guard's deadline, so it fires only outside Playwright.
PYTEST_TIMEOUT_S = 180


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


class Chromium:
    """A headless chromium reached over CDP, started again if a guard had to kill it."""

    def __init__(self, executable: Path) -> None:
        self.executable = executable
        self.profile = Path(tempfile.mkdtemp(prefix="offload-chromium-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.endpoint = ""
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.profile / f"chromium-{self.starts}.log"

    def ensure_running(self) -> str:
        if self.process is not None and self.process.poll() is None:
            return self.endpoint
        self.starts += 1
        port = free_port()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    str(self.executable),
                    "--headless",
                    f"--remote-debugging-port={port}",
                    "--remote-debugging-address=127.0.0.1",
                    f"--user-data-dir={self.profile / f'profile-{self.starts}'}",
                    *LAUNCH_ARGS,
                    "about:blank",
                ],
                stdout=log,
                stderr=log,
            )
        process = self.process
        wait_until(
            lambda: process.poll() is not None or _devtools_url(port),
            timeout_s=30,
            interval_s=0.1,
            message="chromium's DevTools endpoint",
        )
        endpoint = _devtools_url(port)
        if endpoint is None:
            pytest.fail(f"chromium did not start: {self.log_tail()}")
        self.endpoint = endpoint
        return endpoint

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no chromium log)"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    """The session's headless chromium."""
    executable = _chromium()
    if executable is None:
        message = "chromium not found (run `make browser`): browser tests SKIPPED"
        if REQUIRE_BROWSER:
            pytest.fail(message + " but OFFLOAD_REQUIRE_BROWSER=1")
        pytest.skip(message)
    browser = Chromium(executable)
    try:
        yield browser
    finally:
        browser.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(PYTEST_TIMEOUT_S))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the item, so the page fixture knows whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


class Guard:
    """Kills chromium if the test is still running at its deadline."""

    def __init__(self, browser: Chromium, deadline_s: float) -> None:
        self.fired = threading.Event()
        self._done = threading.Event()
        self._browser = browser
        self._thread = threading.Thread(target=self._watch, args=(deadline_s,), daemon=True)
        self._thread.start()

    def _watch(self, deadline_s: float) -> None:
        if not self._done.wait(deadline_s):
            self.fired.set()
            self._browser.kill()

    def cancel(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)


def _report_failure(page: Page, name: str, browser: Chromium) -> None:
    """Print what the page showed when the test failed; pytest shows it under the failure."""
    print(f"--- browser state after failure of {name}")
    with contextlib.suppress(PlaywrightError):
        print(f"url: {page.url}")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / f"FAILED-{name}.png"
        page.screenshot(path=str(shot), full_page=True, timeout=5_000)
        print(f"screenshot: {shot}")
        print(f"body text:\n{page.inner_text('body', timeout=5_000)[:3000]}")
    print(f"chromium log tail:\n{browser.log_tail()}")


@pytest.fixture
def page(
    request: pytest.FixtureRequest, chromium: Chromium, instance: RunningInstance
) -> Iterator[Page]:
    """A page in a fresh context (own cookies) whose relative URLs go to the test instance."""
    endpoint = chromium.ensure_running()
    guard = Guard(chromium, TEST_DEADLINE_S)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.connect_over_cdp(endpoint, timeout=30_000)
            context = browser.new_context(viewport=LAPTOP, base_url=instance.url)
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=instance.url)
            context.set_default_timeout(10_000)
            page = context.new_page()
            try:
                yield page
            finally:
                report = getattr(request.node, "report_call", None)
                if guard.fired.is_set():
                    print(
                        f"--- {request.node.name} passed its {TEST_DEADLINE_S:.0f} s deadline: chromium was killed"
                    )
                elif report is not None and report.failed:
                    _report_failure(page, request.node.name, chromium)
                with contextlib.suppress(PlaywrightError):
                    context.close()
                with contextlib.suppress(PlaywrightError):
                    browser.close()
    finally:
        guard.cancel()
    if guard.fired.is_set():
        pytest.fail(
            f"browser test still running after {TEST_DEADLINE_S:.0f} s: chromium was killed",
            pytrace=False,
        )
