"""The instance's local workers outlive what goes wrong around a job: a job that vanishes under
them, a database that refuses their claims. Each test runs its own `LocalWorkers` (the
constructor is the seam) on an instance whose built-in workers are off."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from offload.instance.local_workers import LocalWorkers
from offload.instance.media import media_of
from tests.clips import MediaClips, jobs_of, upload
from tests.media import make_clip, paced_ffmpeg, processes_mentioning
from tests.support import RunningInstance, start_instance, wait_until

pytestmark = pytest.mark.slow

PENDING, PROCESSING, COMPLETED, WAITING = 1, 2, 3, 5
PUBLISHED = 1


#: A write gives up after 1 s behind another process's lock (instead of 30 s); long enough
#: that the instance's own connections never wait that long for each other.
SHORT_BUSY_TIMEOUT_S = 1.0


@pytest.fixture
def idle_instance(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningInstance]:
    """Remote VOD runners off (uploads make local jobs), no built-in local worker, 240p only;
    settings overrides from `@pytest.mark.parametrize("idle_instance", [{...}], indirect=True)`."""
    overrides = getattr(request, "param", {})
    instance = start_instance(
        tmp_path / "data",
        remote_vod=False,
        local_transcoding_concurrency=0,
        transcoding_resolutions=[240],
        **overrides,
    )
    yield instance
    instance.stop()


@pytest.fixture
def start_workers(idle_instance: RunningInstance) -> Iterator[Any]:
    """Start a `LocalWorkers(**options)` on the instance's own services and loop."""
    started: list[LocalWorkers] = []

    def start(**options: Any) -> LocalWorkers:
        async def build() -> LocalWorkers:
            workers = LocalWorkers(
                idle_instance.services.jobs, media_of(idle_instance.services).videos, **options
            )
            workers.start()
            return workers

        workers: LocalWorkers = idle_instance.call(build)
        started.append(workers)
        return workers

    yield start
    for workers in started:
        idle_instance.call(workers.stop)


def published(instance: RunningInstance, video_uuid: str) -> bool:
    with instance.client() as c:
        return bool(c.get(f"/api/v1/videos/{video_uuid}").json()["state"]["id"] == PUBLISHED)


def test_a_job_deleted_while_it_runs_does_not_take_the_worker_down(
    idle_instance: RunningInstance, start_workers: Any, media_clips: MediaClips, tmp_path: Path
) -> None:
    """An admin deletes a local job mid-run (its heartbeat finds it gone); the worker stops it
    and goes on: the next upload is transcoded and published."""
    instance = idle_instance
    start_workers(ffmpeg_path=str(paced_ffmpeg(tmp_path)), heartbeat_s=0.1, poll_s=0.1)
    upload(instance, make_clip(tmp_path / "long.mp4", duration_s=3.0))
    doomed = wait_until(
        lambda: next(
            (
                j
                for j in jobs_of(instance)
                if j["state"]["id"] == PROCESSING and processes_mentioning(j["uuid"])
            ),
            None,
        ),
        timeout_s=30,
        message="a local job with ffmpeg running",
    )

    with instance.admin() as c:
        assert 204 == c.delete(f"/api/v1/runners/jobs/{doomed['uuid']}").status_code
    wait_until(
        lambda: not processes_mentioning(doomed["uuid"]),
        timeout_s=5,
        message="the deleted job's ffmpeg gone",
    )
    video_uuid = upload(instance, media_clips.small).json()["video"]["uuid"]

    wait_until(
        lambda: published(instance, video_uuid), timeout_s=40, message="the next upload published"
    )


@pytest.mark.parametrize(
    "idle_instance", [{"sqlite_busy_timeout_s": SHORT_BUSY_TIMEOUT_S}], indirect=True
)
def test_a_worker_whose_claims_fail_is_restarted_and_resumes(
    idle_instance: RunningInstance,
    start_workers: Any,
    media_clips: MediaClips,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """While another process holds the SQLite file locked, a worker's claim fails and the worker
    dies; its supervisor logs it and restarts it after a pause, and once the lock is released
    the worker transcodes the waiting upload."""
    instance = idle_instance
    caplog.set_level(logging.WARNING, logger="offload.instance.local_workers")
    video_uuid = upload(instance, media_clips.small).json()["video"]["uuid"]
    instance.admin_token()  # logging in writes: do it before the file is locked
    locker = sqlite3.connect(instance.settings.data_dir / "offload.db", isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        start_workers(poll_s=0.1)

        wait_until(
            lambda: 2 <= sum("restarting it in" in r.getMessage() for r in caplog.records),
            timeout_s=20,
            message="two restarts",
        )
        assert {PENDING, WAITING} == {j["state"]["id"] for j in jobs_of(instance)}
    finally:
        locker.execute("ROLLBACK")
        locker.close()

    wait_until(
        lambda: published(instance, video_uuid), timeout_s=40, message="the upload published"
    )
    assert {COMPLETED} == {j["state"]["id"] for j in jobs_of(instance)}
