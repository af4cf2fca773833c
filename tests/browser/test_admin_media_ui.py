"""Videos and Settings pages in a real browser: upload through the form, watch the video's jobs,
switch VOD transcoding to local workers, and play the HLS and MP4 renditions."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import log_in, screenshot
from tests.browser.runner_calls import accept_job, post_progress
from tests.ladder import register_runner
from tests.media import make_clip
from tests.support import RunningInstance

# The pages read the same services the API suites cover on both databases: SQLite is enough here.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

#: Polled regions refresh every 2 s: give them a few rounds on a busy two-core machine.
LIVE_TIMEOUT_MS = 10_000
#: Local ffmpeg transcoding of a 1 s clip, shared with whatever else runs on two cores.
TRANSCODE_TIMEOUT_MS = 120_000


def upload(page: Page, clip: Path, name: str) -> str:
    """Upload `clip` through the Videos form; returns the new video's UUID from the page URL."""
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Videos").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Video or audio file").set_input_files(clip)
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    return page.url.rsplit("/", 1)[1]


def test_uploaded_video_shows_its_jobs_and_their_progress(
    page: Page, instance: RunningInstance, tmp_path: Path
) -> None:
    """An upload through the form lands on its page, whose job list follows a runner's progress live."""
    clip = make_clip(tmp_path / "clip.mp4")
    log_in(page, "/admin/videos")
    expect(page.get_by_text("No video yet")).to_be_visible()

    video_uuid = upload(page, clip, "Sunday walk")

    expect(page.locator("#video-state")).to_have_text("To transcode")
    page.evaluate("window.__notReloaded = true")
    with instance.admin() as c:
        jobs = c.get(f"/api/v1/videos/{video_uuid}").json()["jobs"]
    pending = [j for j in jobs if j["state"]["label"] == "Pending"]
    assert 1 == len(pending)
    expect(page.locator("#video-jobs tbody tr")).to_have_count(len(jobs))
    runner = register_runner(instance, name="gpu-box")
    job_token = accept_job(instance, runner["runnerToken"], pending[0]["uuid"])
    post_progress(instance, runner["runnerToken"], pending[0]["uuid"], job_token, 30)
    row = page.locator(f"#video-jobs tr[data-job='{pending[0]['uuid']}']")
    expect(row.locator(".progress-value")).to_have_text("30%", timeout=LIVE_TIMEOUT_MS)
    assert True is page.evaluate("window.__notReloaded === true")
    screenshot(page, "video")
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Videos").click()
    expect(page.locator(f"tr[data-video='{video_uuid}']")).to_contain_text("Sunday walk")
    expect(page.locator(f"tr[data-video='{video_uuid}'] .channel")).to_have_text(
        "root_channel (root)"
    )
    screenshot(page, "videos")


@pytest.mark.slow
def test_settings_switch_vod_to_local_and_the_player_plays_hls_and_mp4(
    page: Page, instance: RunningInstance, tmp_path: Path
) -> None:
    """With remote VOD off, an upload is transcoded locally; the player plays its HLS master and MP4 files."""
    clip = make_clip(tmp_path / "clip.mp4")
    log_in(page, "/admin/settings")
    page.get_by_label("VOD transcoding").uncheck()
    for label in ["240p", "360p", "480p", "720p", "1080p", "1440p", "2160p"]:
        page.get_by_label(label, exact=True).uncheck()
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_have_text(
        "Settings saved. They apply to jobs created from now on."
    )
    expect(page.get_by_label("VOD transcoding")).not_to_be_checked()
    with instance.admin() as c:
        config = c.get("/api/v1/config/custom").json()
    assert False is config["transcoding"]["remoteRunners"]["enabled"]
    assert ["144p"] == [label for label, on in config["transcoding"]["resolutions"].items() if on]
    screenshot(page, "settings")

    upload(page, clip, "Local clip")

    expect(page.locator("#video-state")).to_have_text("Published", timeout=TRANSCODE_TIMEOUT_MS)
    hls = page.get_by_role("button", name="Play HLS master playlist (adaptive)")
    expect(hls).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    hls.click()
    page.wait_for_function(
        "() => document.getElementById('player').readyState >= 2", timeout=30_000
    )
    assert page.evaluate("document.getElementById('player').currentSrc").endswith("/master.m3u8")
    mp4 = page.get_by_role("button", name="Play Web video 144p (MP4)")
    mp4.click()
    page.wait_for_function(
        "() => document.getElementById('player').currentSrc.endsWith('.mp4')"
        " && document.getElementById('player').readyState >= 2",
        timeout=30_000,
    )
    screenshot(page, "video-playing")
