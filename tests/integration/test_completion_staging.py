"""A completion owns the files a runner posted: however long it runs after `success` answered,
its input is still there, and its staging directory goes away when it ends or is given up."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from offload.domain.jobs import Job, JobSpec, JobState, JobType
from offload.instance.results import Commit, PostedPayload
from offload.store.database import DatabaseUnavailable
from tests.jobs import force_completing
from tests.ladder import register_runner
from tests.support import RunningInstance, wait_until

JOBS = "/api/v1/runners/jobs"


class GatedHandler:
    """A `JobHandler` whose completion waits for the test's go, then keeps what it read."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.go = threading.Event()
        self.read: dict[str, bytes] = {}

    def plugin(self, app: Any, services: Any) -> None:
        services.jobs.handlers[JobType.VOD_WEB_VIDEO] = self

    async def complete(self, job: Job, result: PostedPayload) -> Commit | None:
        self.started.set()
        await asyncio.to_thread(self.go.wait, 30)
        self.read = {name: path.read_bytes() for name, path in result.files.items()}
        return None

    async def on_update(self, job: Job, update: PostedPayload) -> None:
        return None

    async def on_finished(self, job: Job) -> None:
        return None


def _web_video_job(instance: RunningInstance) -> str:
    video = str(uuid.uuid4())
    spec = JobSpec(
        JobType.VOD_WEB_VIDEO,
        {"input": {}, "output": {"resolution": 480, "fps": 25}},
        {"videoUUID": video},
        priority=100,
    )
    [job] = instance.call(instance.services.jobs.enqueue, [spec])
    return str(job.uuid)


def _state(instance: RunningInstance, job_uuid: str) -> JobState:
    job: Job = instance.call(instance.services.jobs.get, job_uuid)
    return job.state


def _leftovers(directory: Path) -> list[str]:
    return sorted(os.listdir(directory)) if directory.exists() else []


def test_a_completion_outliving_the_success_wait_keeps_its_output(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """`success` answers after `success_wait_s` while the completion still runs; the completion
    reads the posted file intact afterwards, the job ends COMPLETED and no temp file is left."""
    handler = GatedHandler()
    instance = instance_factory(success_wait_s=0.2, plugins=[handler.plugin])
    runner_token = register_runner(instance)["runnerToken"]
    job_uuid = _web_video_job(instance)
    output = os.urandom(3 * 1024 * 1024)
    with instance.client() as client:
        accepted = client.post(f"{JOBS}/{job_uuid}/accept", json={"runnerToken": runner_token})
        job_token = accepted.json()["job"]["jobToken"]
        answer = client.post(
            f"{JOBS}/{job_uuid}/success",
            files=[
                ("runnerToken", (None, runner_token.encode())),
                ("jobToken", (None, job_token.encode())),
                ("payload[videoFile]", ("out.mp4", output)),
            ],
        )

    assert 204 == answer.status_code, answer.text
    assert handler.started.is_set()
    assert JobState.COMPLETING == _state(instance, job_uuid)
    handler.go.set()
    wait_until(
        lambda: _state(instance, job_uuid) is not JobState.COMPLETING,
        message="the completion's end",
    )
    assert JobState.COMPLETED == _state(instance, job_uuid)
    assert {"videoFile": output} == handler.read
    tmp = instance.settings.data_dir / "tmp"
    assert ([], []) == (
        _leftovers(tmp / "uploads"),
        _leftovers(instance.services.jobs.staging.root),
    )


def test_recovering_orphaned_completions_removes_their_staging_dirs(
    instance: RunningInstance,
) -> None:
    """Recovery re-queues a completion whose process is gone and removes its staging dir, and
    any staging dir whose job is no longer completing; a live completion's dir stays."""
    runner_token = register_runner(instance)["runnerToken"]
    orphaned, live = _web_video_job(instance), _web_video_job(instance)
    with instance.client() as client:
        for job_uuid in (orphaned, live):
            assert (
                200
                == client.post(
                    f"{JOBS}/{job_uuid}/accept", json={"runnerToken": runner_token}
                ).status_code
            )
    force_completing(instance, orphaned, owner="a-process-that-died")
    force_completing(instance, live)
    staging = instance.services.jobs.staging
    jobs = {name: instance.call(instance.services.jobs.get, name) for name in (orphaned, live)}
    # A completion that ended without cleaning up (a crash between its commit and its cleanup).
    jobs["finished"] = dataclasses.replace(jobs[live], uuid=str(uuid.uuid4()))
    for name, job in jobs.items():
        posted = instance.settings.data_dir / f"{name}.mp4"
        posted.write_bytes(b"output")
        staging.adopt(job, PostedPayload(files={"videoFile": posted}))
    assert 3 == len(staging.listed())

    recovered = instance.call(instance.services.jobs.recover_orphaned_completions)

    assert 1 == recovered
    assert JobState.PENDING == _state(instance, orphaned)
    assert [f"{live}.1"] == _leftovers(staging.root)


class OutageHandler(GatedHandler):
    """A `JobHandler` whose rows cannot be written the first time: the database went away
    during the completion's final transaction."""

    def __init__(self) -> None:
        super().__init__()
        self.go.set()
        self.commits = 0

    async def complete(self, job: Job, result: PostedPayload) -> Commit | None:
        await super().complete(job, result)

        async def commit(conn: Any) -> None:
            self.commits += 1
            if self.commits == 1:
                raise DatabaseUnavailable()

        return commit


def test_a_database_outage_during_the_final_write_is_waited_out(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """When the completion's final transaction fails for want of a database, it is tried again
    (not dropped, which left the job COMPLETING for hours): the job ends COMPLETED."""
    handler = OutageHandler()
    instance = instance_factory(plugins=[handler.plugin])
    runner_token = register_runner(instance)["runnerToken"]
    job_uuid = _web_video_job(instance)
    with instance.client() as client:
        job_token = client.post(
            f"{JOBS}/{job_uuid}/accept", json={"runnerToken": runner_token}
        ).json()["job"]["jobToken"]
        answer = client.post(
            f"{JOBS}/{job_uuid}/success",
            files=[
                ("runnerToken", (None, runner_token.encode())),
                ("jobToken", (None, job_token.encode())),
                ("payload[videoFile]", ("out.mp4", b"output")),
            ],
        )

    assert 204 == answer.status_code, answer.text
    wait_until(
        lambda: _state(instance, job_uuid) is JobState.COMPLETED,
        timeout_s=10,
        message="the completion committed",
    )
    assert 2 == handler.commits
    assert {"videoFile": b"output"} == handler.read
