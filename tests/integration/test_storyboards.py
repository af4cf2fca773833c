"""Storyboards end to end: planned once a video is published, made by the local workers or by
a runner, checked (an image of the announced grid), stored and served as PeerTube does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from tests.clips import HttpRunner, MediaClips, jobs_of, upload_video
from tests.media import make_clip
from tests.runner_home import RunnerHome
from tests.support import RunningInstance, start_instance, wait_until

pytestmark = pytest.mark.slow

STORYBOARD = "generate-video-storyboard"
COMPLETED, ERRORED = 3, 4
#: A 4 s 320x240 clip: four 192x144 sprites, one a second, in one row.
SHEET = {
    "totalWidth": 768,
    "totalHeight": 144,
    "spriteWidth": 192,
    "spriteHeight": 144,
    "spriteDuration": 1,
}


def _storyboard_job(instance: RunningInstance) -> dict[str, Any] | None:
    return next((j for j in jobs_of(instance) if j["type"] == STORYBOARD), None)


def _storyboards(instance: RunningInstance, video_uuid: str) -> list[dict[str, Any]]:
    with instance.client() as c:
        r = c.get(f"/api/v1/videos/{video_uuid}/storyboards")
    assert 200 == r.status_code, r.text
    return list(r.json()["storyboards"])


def _sheet_size(instance: RunningInstance, board: dict[str, Any], target: Path) -> tuple[int, int]:
    r = httpx.get(instance.url + board["storyboardPath"], timeout=30.0)
    assert (200, "image/jpeg") == (r.status_code, r.headers["content-type"])
    target.write_bytes(r.content)
    with av.open(str(target)) as container:
        frame = next(container.decode(video=0))
        return frame.width, frame.height


def _completed(instance: RunningInstance) -> dict[str, Any] | None:
    job = _storyboard_job(instance)
    return job if job is not None and job["state"]["id"] == COMPLETED else None


def test_local_workers_make_the_storyboard_once_the_ladder_is_published(
    instance_factory: Callable[..., RunningInstance], tmp_path: Path
) -> None:
    """Remote VOD and storyboards off: after the ladder publishes the video, a local storyboard
    job makes a 4x1 sheet of 192x144 sprites, served at PeerTube's path with its geometry."""
    instance = instance_factory(
        remote_vod=False, remote_storyboard=False, transcoding_resolutions=[240]
    )
    clip = make_clip(tmp_path / "four.mp4", duration_s=4.0)
    video_uuid = upload_video(instance, clip)

    job = wait_until(lambda: _completed(instance), timeout_s=90, message="local storyboard")
    boards = _storyboards(instance, video_uuid)

    assert {
        "input": {"videoFileUrl": job["payload"]["input"]["videoFileUrl"]},
        "sprites": {"size": {"width": 192, "height": 144}, "count": {"width": 4, "height": 1}},
        "priority": 95,
    } == {
        "input": job["payload"]["input"],
        "sprites": {k: job["payload"]["sprites"][k] for k in ("size", "count")},
        "priority": job["priority"],
    }
    assert job["payload"]["input"]["videoFileUrl"].endswith(f"/videos/{video_uuid}/max-quality")
    assert [SHEET] == [{k: b[k] for k in SHEET} for b in boards]
    assert boards[0]["storyboardPath"].startswith("/lazy-static/storyboards/")
    assert (768, 144) == _sheet_size(instance, boards[0], tmp_path / "sheet.jpg")


def test_short_or_pictureless_videos_get_no_storyboard_job(
    instance_factory: Callable[..., RunningInstance], tmp_path: Path
) -> None:
    """A 2 s clip and an audio file are published without any storyboard job."""
    instance = instance_factory(transcoding_enabled=False)
    short = upload_video(instance, make_clip(tmp_path / "short.mp4", duration_s=2.0))
    upload_video(instance, make_clip(tmp_path / "song.m4a", duration_s=4.0, video=False))
    long_one = upload_video(instance, make_clip(tmp_path / "long.mp4", duration_s=4.0))

    # The long clip's job shows the planner ran for the uploads before it too.
    wait_until(lambda: _storyboard_job(instance), timeout_s=30, message="storyboard job")

    assert [long_one] == [
        j["payload"]["input"]["videoFileUrl"].split("/")[-2]
        for j in jobs_of(instance)
        if j["type"] == STORYBOARD
    ]
    assert [] == _storyboards(instance, short)


def test_a_runner_makes_the_storyboard(
    instance_factory: Callable[..., RunningInstance], tmp_path: Path
) -> None:
    """A runner takes the job, runs the sprite command on the downloaded input and posts
    `payload[storyboardFile]`; the instance stores and serves it."""
    instance = instance_factory(transcoding_enabled=False)
    video_uuid = upload_video(instance, make_clip(tmp_path / "four.mp4", duration_s=4.0))
    runner = HttpRunner.register(instance)
    offered = wait_until(runner.request, timeout_s=30, message="storyboard offered")

    job = runner.accept(offered[0]["uuid"])
    files = runner.process(job, tmp_path / "work")
    r = runner.success(job, files)

    assert (STORYBOARD, 204) == (job["type"], r.status_code), r.text
    wait_until(lambda: _completed(instance), timeout_s=30, message="storyboard stored")
    boards = _storyboards(instance, video_uuid)
    assert [SHEET] == [{k: b[k] for k in SHEET} for b in boards]
    assert (768, 144) == _sheet_size(instance, boards[0], tmp_path / "sheet.jpg")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param(b"not a picture at all\n" * 20, "not an image", id="not-an-image"),
        pytest.param(None, "is 640x360, not the 768x144 grid", id="wrong-size"),
    ],
)
def test_a_wrong_storyboard_is_refused_then_errored(
    instance_factory: Callable[..., RunningInstance],
    media_clips: MediaClips,
    tmp_path: Path,
    content: bytes | None,
    reason: str,
) -> None:
    """A runner posting a non-image or an image of another size is refused each time; after
    PeerTube's 5 failures the job is ERRORED with a message saying why, and nothing is stored."""
    instance = instance_factory(transcoding_enabled=False)
    video_uuid = upload_video(instance, make_clip(tmp_path / "four.mp4", duration_s=4.0))
    runner = HttpRunner.register(instance)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(media_clips.preview.read_bytes() if content is None else content)

    for _ in range(5):
        offered = wait_until(runner.request, timeout_s=30, message="storyboard offered")
        job = runner.accept(offered[0]["uuid"])
        runner.success(job, {"storyboardFile": bad})
        wait_until(
            lambda uuid=job["uuid"]: (
                next(j for j in jobs_of(instance) if j["uuid"] == uuid)["state"]["id"] != 2
            ),
            timeout_s=30,
            message="completion settled",
        )

    final = _storyboard_job(instance)
    assert final is not None
    assert ERRORED == final["state"]["id"], final
    assert reason in final["error"]
    assert final["error"].startswith("Output refused: the storyboard")
    assert [] == _storyboards(instance, video_uuid)


def test_the_runner_cli_makes_the_storyboard(tmp_path: Path, home: RunnerHome) -> None:
    """`offload runner server --once` advertises and processes storyboard jobs."""
    instance = start_instance(tmp_path / "instance", None, transcoding_enabled=False)
    try:
        assert 0 == home.register(instance, "sprites").returncode
        video_uuid = upload_video(instance, make_clip(tmp_path / "four.mp4", duration_s=4.0))
        wait_until(lambda: _storyboard_job(instance), timeout_s=30, message="storyboard job")
        home.configure()

        run = home.cli("server", "--once")

        assert 0 == run.returncode, run.stdout + run.stderr
        assert _completed(instance) is not None, jobs_of(instance)
        boards = _storyboards(instance, video_uuid)
        assert [SHEET] == [{k: b[k] for k in SHEET} for b in boards]
        assert (768, 144) == _sheet_size(instance, boards[0], tmp_path / "sheet.jpg")
    finally:
        instance.stop()
