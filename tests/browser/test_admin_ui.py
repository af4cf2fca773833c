"""The admin web UI in a real browser (Debian chromium, headless) against a real instance."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Dialog, Page, expect

from offload.domain.jobs import JobState
from tests.browser.helpers import log_in, screenshot
from tests.browser.runner_calls import accept_job, post_progress
from tests.ladder import enqueue_upload_ladder, register_runner
from tests.support import ADMIN_PASSWORD, RunningInstance

# The pages read the same services the API suites cover on both databases: SQLite is enough here.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

#: Polled regions refresh every 2 s: give them a few rounds on a busy two-core machine.
LIVE_TIMEOUT_MS = 10_000


def accept_dialogs(page: Page, seen: list[str]) -> None:
    """Say yes to every confirm dialog, remembering what each one asked."""

    def handle(dialog: Dialog) -> None:
        seen.append(dialog.message)
        dialog.accept()

    page.on("dialog", handle)


def mark_page(page: Page) -> None:
    """Tag the document; a full reload would lose the tag."""
    page.evaluate("window.__notReloaded = true")


def assert_not_reloaded(page: Page) -> None:
    assert True is page.evaluate("window.__notReloaded === true")


def test_login_then_logout(page: Page, instance: RunningInstance) -> None:
    """A page asks for the login, a wrong password is refused, root gets in and logs out again."""
    page.goto("/admin/runners")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    screenshot(page, "login")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")

    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(f"{instance.url}/admin/runners")
    expect(page.get_by_role("heading", name="Remote runners")).to_be_visible()
    expect(page.get_by_label("Instance status")).to_contain_text("0 runners online")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.goto("/admin/jobs")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))


def test_generate_token_shows_the_register_command(page: Page, instance: RunningInstance) -> None:
    """Generating a token lists it with the exact `offload runner register` command and a copy button."""
    log_in(page, "/admin/tokens")
    expect(page.locator("#tokens > li")).to_have_count(1)

    page.get_by_role("button", name="Generate registration token").click()

    expect(page.get_by_role("status")).to_have_text("Registration token #2 generated.")
    expect(page.locator("#tokens > li")).to_have_count(2)
    with instance.admin() as c:
        newest = c.get("/api/v1/runners/registration-tokens", params={"sort": "-createdAt"}).json()[
            "data"
        ][0]
    assert 2 == newest["id"]
    token = newest["registrationToken"]
    command = page.locator("#command-2")
    expect(command).to_have_text(
        f"offload runner register --url {instance.url} --registration-token {token} --runner-name my-runner"
    )
    page.get_by_label("Runner name in the commands").fill("gpu-box")
    expected = f"offload runner register --url {instance.url} --registration-token {token} --runner-name gpu-box"
    expect(command).to_have_text(expected)
    copy = page.locator("[data-copy='command-2']")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert expected == page.evaluate("navigator.clipboard.readText()")
    screenshot(page, "tokens")


def test_registered_runner_shows_online_then_unregisters(
    page: Page, instance: RunningInstance
) -> None:
    """A runner registering while the page is open appears online without a reload; unregister asks first."""
    log_in(page, "/admin/runners")
    expect(page.get_by_text("No runner is registered yet")).to_be_visible()
    mark_page(page)

    register_runner(
        instance, name="gpu-box", description="Big GPU in the basement", version="1.2.3"
    )

    row = page.locator("tr[data-runner='gpu-box']")
    expect(row).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(row).to_contain_text("Big GPU in the basement")
    expect(row).to_contain_text("1.2.3")
    expect(row).to_contain_text("127.0.0.1")
    expect(row.locator(".badge-online")).to_have_text("online")
    expect(row.locator("time").first).to_have_text(re.compile(r"just now|\d+ s ago"))
    expect(page.locator("#stat-runners-online")).to_have_text("1", timeout=LIVE_TIMEOUT_MS)
    assert_not_reloaded(page)
    screenshot(page, "runners")

    asked: list[str] = []
    accept_dialogs(page, asked)
    row.get_by_role("button", name="Unregister").click()

    expect(page.get_by_role("status")).to_have_text("Runner unregistered.")
    expect(row).to_have_count(0)
    assert ["Unregister runner “gpu-box”? It will have to register again to get jobs."] == asked


def test_live_list_keeps_its_buttons_while_only_times_move(
    page: Page, instance: RunningInstance
) -> None:
    """Relative times tick in the browser; a row whose only change is "s ago" is not re-rendered
    under the admin's pointer (a swap between press and release would eat the click)."""
    register_runner(instance, name="gpu-box")
    log_in(page, "/admin/runners")
    button = page.locator("tr[data-runner='gpu-box']").get_by_role("button", name="Unregister")
    button.evaluate("element => { element.keptAcrossPolls = true; }")

    # The server's text turns from "just now" to "5 s ago" at 5 s; by 8 s a poll has seen it.
    expect(page.locator("tr[data-runner='gpu-box'] time").first).to_have_text(
        re.compile(r"^(?:[89]|\d\d) s ago$"), timeout=20_000
    )

    assert True is button.evaluate("element => element.keptAcrossPolls === true")


def test_jobs_appear_and_progress_moves_without_reload(
    page: Page, instance: RunningInstance
) -> None:
    """New jobs show up and a runner's progress updates move the bar while the page stays loaded."""
    log_in(page, "/admin/jobs")
    expect(page.get_by_text("No runner job yet")).to_be_visible()
    mark_page(page)

    jobs = enqueue_upload_ladder(instance)

    expect(page.locator("#jobs tbody tr")).to_have_count(10, timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#stat-pending")).to_have_text("1", timeout=LIVE_TIMEOUT_MS)
    runner = register_runner(instance, name="gpu-box")
    job_token = accept_job(instance, runner["runnerToken"], jobs[0].uuid)
    post_progress(instance, runner["runnerToken"], jobs[0].uuid, job_token, 42)

    row = page.locator(f"tr[data-job='{jobs[0].uuid}']")
    expect(row.locator(".badge")).to_have_text("Processing", timeout=LIVE_TIMEOUT_MS)
    expect(row.locator(".progress-value")).to_have_text("42%", timeout=LIVE_TIMEOUT_MS)
    expect(row).to_contain_text("gpu-box")
    expect(page.locator("#stat-processing")).to_have_text("1", timeout=LIVE_TIMEOUT_MS)
    post_progress(instance, runner["runnerToken"], jobs[0].uuid, job_token, 77)
    expect(row.locator(".progress-value")).to_have_text("77%", timeout=LIVE_TIMEOUT_MS)
    expect(row.locator("progress")).to_have_attribute("value", "77")
    assert_not_reloaded(page)
    screenshot(page, "jobs")


def test_job_page_shows_both_payloads_children_and_attempts(
    page: Page, instance: RunningInstance
) -> None:
    """The job page prints the public and private payloads as JSON, the children and the attempts."""
    jobs = enqueue_upload_ladder(instance)
    runner = register_runner(instance, name="gpu-box")
    job_token = accept_job(instance, runner["runnerToken"], jobs[0].uuid)
    post_progress(instance, runner["runnerToken"], jobs[0].uuid, job_token, 10)
    log_in(page, "/admin/jobs")

    page.locator(f"tr[data-job='{jobs[0].uuid}'] th a").click()

    expect(page.get_by_role("heading", name=f"Job {jobs[0].uuid}")).to_be_visible()
    public = page.locator("#public-payload")
    private = page.locator("#private-payload")
    expect(public).to_contain_text('"videoFileUrl":')
    expect(public).to_contain_text('"resolution": 720')
    expect(private).to_contain_text(f'"videoUUID": "{jobs[0].private_payload["videoUUID"]}"')
    expect(private).to_contain_text('"isNewVideo": true')
    expect(page.locator("#children tbody tr")).to_have_count(5)
    expect(page.locator("#children .badge").first).to_have_text("Waiting for parent job to finish")
    expect(page.locator("#attempts tbody tr")).to_have_count(1)
    expect(page.locator("#attempts tbody tr")).to_contain_text("gpu-box")
    expect(page.locator("#job-status .progress-value")).to_have_text("10%")
    screenshot(page, "job")


def test_cancel_pending_job_cancels_its_children(page: Page, instance: RunningInstance) -> None:
    """Cancelling the pending root job after confirming turns it and every waiting descendant cancelled."""
    jobs = enqueue_upload_ladder(instance)
    log_in(page, f"/admin/jobs/{jobs[0].uuid}")
    expect(page.locator("#job-state")).to_have_text("Pending")
    asked: list[str] = []
    accept_dialogs(page, asked)

    page.locator("#job-status").get_by_role("button", name="Cancel").click()

    expect(page.get_by_role("status")).to_have_text(f"Job {jobs[0].uuid[:8]} cancelled.")
    expect(page.locator("#job-state")).to_have_text("Cancelled")
    expect(page.locator("#children .badge")).to_have_text(["Parent job cancelled"] * 5)
    assert [
        f"Cancel job {jobs[0].uuid[:8]} (vod-web-video-transcoding)? Jobs waiting for it are cancelled too."
    ] == asked
    screenshot(page, "job-cancelled")
    page.goto("/admin/jobs")
    page.get_by_label("State").select_option(str(JobState.PARENT_CANCELLED.value))
    expect(page).to_have_url(re.compile(rf"state={JobState.PARENT_CANCELLED.value}"))
    expect(page.locator("#jobs tbody tr")).to_have_count(9)
    expect(page.locator("#jobs .badge")).to_have_text(["Parent job cancelled"] * 9)


def test_revoke_token_unregisters_its_runner(page: Page, instance: RunningInstance) -> None:
    """Revoking a token says how many runners go with it, and its runner disappears."""
    register_runner(instance, name="gpu-box")
    log_in(page, "/admin/tokens")
    expect(page.locator("[data-token-id='1'] .badge")).to_have_text("1 runner")
    asked: list[str] = []
    accept_dialogs(page, asked)

    page.get_by_role("button", name="Revoke token #1").click()

    expect(page.get_by_role("status")).to_have_text(
        "Registration token #1 revoked; its runners are unregistered."
    )
    assert [
        "Revoke registration token #1? This also unregisters 1 runner registered with it."
    ] == asked
    page.get_by_role("link", name="Remote runners").click()
    expect(page.get_by_text("No runner is registered yet")).to_be_visible()
    expect(page.locator("tr[data-runner='gpu-box']")).to_have_count(0)


def test_pages_fit_a_phone_screen(page: Page, instance: RunningInstance) -> None:
    """On a phone-sized screen no page scrolls sideways; wide tables scroll inside their own box."""
    jobs = enqueue_upload_ladder(instance)
    register_runner(instance, name="gpu-box", description="Big GPU", version="1.2.3")
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, "/admin/jobs")
    for path, name in [
        ("/admin/jobs", "jobs-phone"),
        ("/admin/runners", "runners-phone"),
        ("/admin/tokens", "tokens-phone"),
        (f"/admin/jobs/{jobs[0].uuid}", "job-phone"),
    ]:
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")

        assert 0 >= overflow, f"{path} is {overflow} px too wide"
        screenshot(page, name)
