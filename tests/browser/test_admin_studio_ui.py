"""The studio form of a video page in a real browser: an edit with a cut and an intro is queued,
the page says it waits for a runner while none is online, and the notice goes once one is."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import log_in, screenshot
from tests.clips import HttpRunner, jobs_of, set_config, upload_video
from tests.media import make_clip
from tests.support import RunningInstance

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

#: Polled regions refresh every 2 s: give them a few rounds on a busy two-core machine.
LIVE_TIMEOUT_MS = 10_000


def test_the_studio_form_queues_an_edit_and_says_when_it_waits_for_a_runner(
    page: Page, instance: RunningInstance, tmp_path: Path
) -> None:
    set_config(instance, {"transcoding": {"enabled": False}, "storyboards": {"enabled": False}})
    video = upload_video(instance, make_clip(tmp_path / "walk.mp4", duration_s=4.0))
    intro = make_clip(tmp_path / "intro.mp4", duration_s=1.0, size="160x120")
    log_in(page, f"/admin/videos/{video}")

    studio = page.get_by_role("region", name="Studio")
    studio.get_by_label("Cut end, seconds").fill("3")
    studio.get_by_label("Intro video").set_input_files(intro)
    studio.get_by_role("button", name="Edit video").click()

    expect(page.get_by_text("Studio edit queued as job")).to_be_visible()
    expect(page.locator("#video-state")).to_have_text("To edit")
    expect(page.locator("#studio-waiting")).to_contain_text("none is online")
    expect(page.locator("#studio-unavailable")).to_contain_text("being transcoded or edited")
    [job] = [j for j in jobs_of(instance) if j["type"] == "video-studio-transcoding"]
    assert ["cut", "add-intro"] == [t["name"] for t in job["payload"]["tasks"]]
    expect(page.locator(f"#video-jobs tr[data-job='{job['uuid']}']")).to_contain_text(
        "video-studio-transcoding"
    )
    screenshot(page, "video-studio")

    runner = HttpRunner.register(instance)
    runner.request()  # a runner heard from just now counts as online

    expect(page.locator("#studio-waiting")).to_have_count(0, timeout=LIVE_TIMEOUT_MS)


def test_an_audio_only_video_gets_no_studio_form(
    page: Page, instance: RunningInstance, tmp_path: Path
) -> None:
    set_config(instance, {"transcoding": {"enabled": False}})
    video = upload_video(instance, make_clip(tmp_path / "song.m4a", duration_s=2.0, video=False))
    log_in(page, f"/admin/videos/{video}")

    expect(page.locator("#studio-unavailable")).to_have_text(
        "An audio-only video cannot be edited."
    )
    expect(page.locator("#studio-form")).to_have_count(0)
