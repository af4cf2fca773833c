"""Browser test steps: log in through the form, keep a screenshot of a page."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support import ADMIN_PASSWORD

__all__ = ["SCREENSHOTS", "log_in", "screenshot"]

#: Kept by CI as artifacts (gitignored).
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def log_in(page: Page, path: str = "/admin/jobs") -> None:
    """Open `path`, get sent to the login form, log in as root and land back on `path`."""
    page.goto(path)
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
