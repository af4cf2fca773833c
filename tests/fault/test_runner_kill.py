"""A real `offload runner` killed (SIGKILL) in the middle of a VOD job."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.clips import jobs_of, upload
from tests.fault.media_tree import media_tree
from tests.media import make_clip, paced_ffmpeg, processes_mentioning
from tests.runner_home import RunnerHome
from tests.support import start_instance, wait_until

pytestmark = pytest.mark.slow

PENDING, PROCESSING, COMPLETED = 1, 2, 3
PUBLISHED = 1


def test_a_killed_runners_job_is_finished_by_another_runner_once(tmp_path: Path) -> None:
    """The runner dies mid-job (its ffmpeg with it); past the stall threshold the watchdog
    re-queues the job, recording the attempt as stalled; a second runner finishes it, and the
    video is published with each rendition once, its files and rows in agreement."""
    instance = start_instance(
        tmp_path / "instance",
        None,
        transcoding_resolutions=[240],
        stalled_vod_s=2.0,
        watchdog_interval_s=0.3,
    )
    doomed, rescuer = RunnerHome(tmp_path / "doomed"), RunnerHome(tmp_path / "rescuer")
    try:
        for home in (doomed, rescuer):
            home.root.mkdir()
            assert 0 == home.register(instance, home.root.name).returncode
        doomed.configure(ffmpeg_path=paced_ffmpeg(tmp_path))
        rescuer.configure()
        video_uuid = upload(instance, make_clip(tmp_path / "clip.mp4", duration_s=3.0)).json()[
            "video"
        ]["uuid"]
        daemon = doomed.start()
        job = wait_until(
            lambda: next(
                (
                    j
                    for j in jobs_of(instance)
                    if j["state"]["id"] == PROCESSING and processes_mentioning(j["uuid"])
                ),
                None,
            ),
            timeout_s=30,
            message="a job with ffmpeg running",
        )

        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=10)
        wait_until(
            lambda: not processes_mentioning(job["uuid"]),
            timeout_s=5,
            message="the orphan ffmpeg gone",
        )
        with instance.admin() as c:
            wait_until(
                lambda: (
                    PENDING == c.get(f"/api/v1/runners/jobs/{job['uuid']}").json()["state"]["id"]
                ),
                timeout_s=15,
                message="the watchdog re-queue",
            )
        rescue = rescuer.cli("server", "--once")

        assert 0 == rescue.returncode, rescue.stderr
        with instance.admin() as c:
            finished = c.get(f"/api/v1/runners/jobs/{job['uuid']}").json()
        with instance.client() as c:
            video = c.get(f"/api/v1/videos/{video_uuid}").json()
        tree = media_tree(instance.settings.data_dir, str(instance.settings.database_url))
        assert (COMPLETED, 0) == (finished["state"]["id"], finished["failures"])
        assert [("doomed", "stalled"), ("rescuer", "completed")] == [
            (a["runnerName"], a["outcome"]) for a in finished["attempts"]
        ]
        assert PUBLISHED == video["state"]["id"]
        assert [("hls", 240), ("web", 240)] == tree.renditions
        assert tree.consistent, tree
    finally:
        for home in (doomed, rescuer):
            home.stop_all()
        instance.stop()
