"""After a studio edit the video's ladder is built again from the edited file, beside the files
players get; players switch to the new files in one step once the new ladder's required jobs
are in, and an edit whose ladder fails is dropped whole. The runner here plays the studio job
with a file made by ffmpeg and runs the VOD jobs with the real processing step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.clips import HttpRunner, jobs_of, upload_video
from tests.integration.test_studio_api import edit, video_of
from tests.media import make_clip
from tests.support import RunningInstance, wait_until

STUDIO = "video-studio-transcoding"
PENDING, PROCESSING, COMPLETED, ERRORED, CANCELLED = 1, 2, 3, 4, 6
PUBLISHED, TO_TRANSCODE, TO_EDIT = 1, 2, 9


def _master(instance: RunningInstance, video: dict[str, Any]) -> str:
    [playlist] = video["streamingPlaylists"]
    r = httpx.get(playlist["playlistUrl"], timeout=30.0)
    assert 200 == r.status_code
    return r.text


def _run_studio_with(runner: HttpRunner, made: Path) -> None:
    offered = wait_until(
        lambda: [j for j in runner.request() if j["type"] == STUDIO],
        timeout_s=30,
        message="studio job offered",
    )
    job = runner.accept(offered[0]["uuid"])
    assert 204 == runner.success(job, {"videoFile": made}).status_code


def _ladder_ready(
    instance_factory: Callable[..., RunningInstance], tmp_path: Path, **settings: Any
) -> tuple[RunningInstance, HttpRunner, str]:
    instance = instance_factory(transcoding_resolutions=[240], retry_backoff_s=0.0, **settings)
    video = upload_video(instance, make_clip(tmp_path / "five.mp4", duration_s=5.0))
    runner = HttpRunner.register(instance)
    runner.run_all(tmp_path / "ladder")
    wait_until(
        lambda: video_of(instance, video)["state"]["id"] == PUBLISHED,
        timeout_s=30,
        message="first ladder published",
    )
    return instance, runner, video


def test_players_keep_the_old_files_until_the_new_ladder_is_in(
    instance_factory: Callable[..., RunningInstance], tmp_path: Path
) -> None:
    """Cut 1–4 of a 5 s video: while the new ladder runs the video says "to transcode" but
    serves its 5 s files and master playlist; once it is in, it serves only 3 s files, the old
    ones are deleted, and a storyboard is planned for the new content."""
    instance, runner, video = _ladder_ready(instance_factory, tmp_path, remote_storyboard=True)
    old = video_of(instance, video)
    old_master = _master(instance, old)
    old_urls = {f["fileUrl"] for f in old["files"]} | {
        f["fileUrl"] for p in old["streamingPlaylists"] for f in p["files"]
    }
    assert (
        204
        == edit(instance, video, [{"name": "cut", "options": {"start": 1, "end": 4}}]).status_code
    )
    _run_studio_with(runner, make_clip(tmp_path / "cut.mp4", duration_s=3.0))

    wait_until(
        lambda: video_of(instance, video)["state"]["id"] == TO_TRANSCODE,
        timeout_s=30,
        message="new ladder queued",
    )
    during = video_of(instance, video)
    assert (5, old["files"], old_master) == (
        during["duration"],
        during["files"],
        _master(instance, during),
    )
    assert all(httpx.get(url, timeout=30.0).status_code == 200 for url in old_urls)

    done = runner.run_all(tmp_path / "second-ladder")
    after = wait_until(
        lambda: (v := video_of(instance, video))["state"]["id"] == PUBLISHED and v,
        timeout_s=30,
        message="new ladder published",
    )
    new_urls = {f["fileUrl"] for f in after["files"]} | {
        f["fileUrl"] for p in after["streamingPlaylists"] for f in p["files"]
    }
    assert {"vod-web-video-transcoding:240", "vod-hls-transcoding:240"} <= set(done)
    assert (3, set()) == (after["duration"], new_urls & old_urls)
    assert all(round(f["duration"] if "duration" in f else 3) == 3 for f in after["files"])
    assert _master(instance, after) != old_master
    wait_until(
        lambda: all(httpx.get(url, timeout=30.0).status_code == 404 for url in old_urls),
        timeout_s=30,
        message="old files deleted",
    )
    storyboards = wait_until(
        lambda: [j for j in jobs_of(instance) if j["type"] == "generate-video-storyboard"][1:],
        timeout_s=30,
        message="a second storyboard job for the edited video",
    )
    assert 1 == len(storyboards)


def test_an_edit_whose_ladder_fails_is_dropped_whole(
    instance_factory: Callable[..., RunningInstance], tmp_path: Path
) -> None:
    """The new ladder's first job errors five times: the edit is dropped — the video is
    published on its old files with the reason, the edited file is gone, and the rest of the
    new ladder is cancelled."""
    instance, runner, video = _ladder_ready(instance_factory, tmp_path, storyboards_enabled=False)
    old = video_of(instance, video)
    assert 204 == edit(instance, video, [{"name": "cut", "options": {"end": 2}}]).status_code
    _run_studio_with(runner, make_clip(tmp_path / "cut.mp4", duration_s=2.0))

    for round_ in range(5):
        offered = wait_until(runner.request, timeout_s=30, message=f"new ladder job ({round_})")
        job = runner.accept(offered[0]["uuid"])
        with instance.client() as c:
            r = c.post(
                f"/api/v1/runners/jobs/{job['uuid']}/error",
                json={"runnerToken": runner.token, "jobToken": job["jobToken"], "message": "no"},
            )
        assert 204 == r.status_code, r.text

    after = wait_until(
        lambda: (v := video_of(instance, video))["state"]["id"] == PUBLISHED and v,
        timeout_s=30,
        message="video back on its old files",
    )
    new_ladder = [j for j in jobs_of(instance) if j["type"] != STUDIO][-2:]
    assert (5, old["files"]) == (after["duration"], after["files"])
    assert after["transcodingError"].startswith("The studio edit was dropped")
    assert {ERRORED} | {CANCELLED, 7, 8} >= {j["state"]["id"] for j in new_ladder}
    assert ERRORED in {j["state"]["id"] for j in new_ladder}
    assert [] == runner.request()
    # Another edit may be asked once the first is dropped.
    assert 204 == edit(instance, video, [{"name": "cut", "options": {"end": 3}}]).status_code
