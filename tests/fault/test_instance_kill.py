"""An instance process killed (SIGKILL) while a completion has placed its files but not yet
committed its rows: the job is redone, never half published. On PostgreSQL the dead process's
liveness lock goes with its connection, so another process takes over within seconds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clips import HttpRunner, MediaClips, upload
from tests.fault.media_tree import media_tree
from tests.fault.served import ServedInstance
from tests.support import start_instance, wait_until

pytestmark = pytest.mark.slow

PENDING, COMPLETED = 1, 3
PUBLISHED = 1
#: Fast enough watchdog passes, and a liveness lock believed one second after connecting.
WATCHING: dict[str, Any] = {"watchdog_interval_s": 0.2, "process_lock_grace_s": 1.0}
#: 240p only: a ladder of two jobs; `success` answers at once, the completion goes on.
INSTANCE: dict[str, Any] = {"transcoding_resolutions": "[240]", "success_wait_s": 0.2, **WATCHING}


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[ServedInstance]:
    """An instance process whose completions wait 60 s between placing files and committing."""
    instance = ServedInstance.start(tmp_path / "data", database_url, commit_delay_s=60, **INSTANCE)
    yield instance
    instance.stop()


def job_view(instance: Any, job_uuid: str) -> dict[str, Any]:
    with instance.admin() as c:
        return dict(c.get(f"/api/v1/runners/jobs/{job_uuid}").json())


def video_view(instance: Any, video_uuid: str) -> dict[str, Any]:
    with instance.client() as c:
        return dict(c.get(f"/api/v1/videos/{video_uuid}").json())


def kill_mid_completion(served: ServedInstance, runner: HttpRunner, workdir: Path) -> str:
    """The runner does the first job and posts its success; once the instance has placed the
    output, SIGKILL. Returns the job's UUID."""
    job = runner.accept(runner.request()[0]["uuid"])
    assert 204 == runner.success(job, runner.process(job, workdir)).status_code
    wait_until(
        lambda: f"placed {job['uuid']}" in served.output(),
        timeout_s=20,
        message="the output placed",
    )
    served.kill()
    return str(job["uuid"])


def assert_published_once(
    instance: Any, video_uuid: str, data_dir: Path, database_url: str, job_uuid: str
) -> None:
    video = video_view(instance, video_uuid)
    tree = media_tree(data_dir, database_url)
    attempts = [a["outcome"] for a in job_view(instance, job_uuid)["attempts"]]

    assert PUBLISHED == video["state"]["id"]
    assert [("hls", 240), ("web", 240)] == tree.renditions
    assert tree.consistent, tree
    assert ["interrupted", "completed"] == attempts
    assert 0 == job_view(instance, job_uuid)["failures"]


def test_an_instance_killed_mid_completion_redoes_it_after_a_restart(
    served: ServedInstance, media_clips: MediaClips, tmp_path: Path, database_url: str
) -> None:
    """Killed mid-completion and restarted on the same data: the job is back to PENDING (not
    counted as a failure), a runner redoes it, and the video is published with each rendition
    once; the killed attempt's placed file is queued for deletion, not referenced."""
    video_uuid = upload(served, media_clips.small).json()["video"]["uuid"]
    runner = HttpRunner.register(served, "steady")
    job_uuid = kill_mid_completion(served, runner, tmp_path / "work")

    served.launch()
    wait_until(
        lambda: PENDING == job_view(served, job_uuid)["state"]["id"],
        timeout_s=15,
        message="the completion re-queued",
    )
    runner.run_all(tmp_path / "redo")

    assert_published_once(served, video_uuid, served.data_dir, database_url, job_uuid)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_another_process_takes_over_a_killed_ones_completion_within_seconds(
    served: ServedInstance, media_clips: MediaClips, tmp_path: Path, database_url: str
) -> None:
    """Two processes on one PostgreSQL database and one media tree: the one running a completion
    is killed; the other re-queues it within seconds (not after the 90 s process timeout), a
    runner redoes it there, and the output is published once."""
    other = start_instance(served.data_dir, database_url, transcoding_resolutions=[240], **WATCHING)
    try:
        # Uploaded through the other process, so the job's input URLs outlive the killed one.
        video_uuid = upload(other, media_clips.small).json()["video"]["uuid"]
        runner = HttpRunner.register(served, "steady")
        job_uuid = kill_mid_completion(served, runner, tmp_path / "work")
        killed_at = time.monotonic()

        wait_until(
            lambda: PENDING == job_view(other, job_uuid)["state"]["id"],
            timeout_s=15,
            message="the completion re-queued",
        )
        taken_over_s = time.monotonic() - killed_at
        HttpRunner(other, runner.token).run_all(tmp_path / "redo")

        assert taken_over_s < 5.0
        assert_published_once(other, video_uuid, served.data_dir, database_url, job_uuid)
    finally:
        other.stop()
