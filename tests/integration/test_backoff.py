"""Failure backoff: a job a runner errored is offered again only once its backoff is over, the
backoff doubles with each failure, and socket-driven runners hear of the job when it ends."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from offload.domain.jobs import JobSpec, JobState, JobType
from tests.clips import MediaClips, jobs_of, upload
from tests.clock import ManualClock
from tests.ladder import register_runner
from tests.sockets import runner_socket
from tests.support import RunningInstance

FIRST_S = 10.0
#: Just short of a backoff's end, and just past it.
EARLY_S, LATE_S = 0.5, 0.1


class Runner:
    """A runner's HTTP calls on one job."""

    def __init__(self, instance: RunningInstance) -> None:
        self.instance = instance
        self.token = register_runner(instance)["runnerToken"]
        self.client = instance.client()

    def offered(self) -> list[str]:
        answer = self.client.post("/api/v1/runners/jobs/request", json={"runnerToken": self.token})
        assert 200 == answer.status_code, answer.text
        return [job["uuid"] for job in answer.json()["availableJobs"]]

    def claimed(self) -> list[str]:
        answer = self.client.post("/api/v1/runners/jobs/claim", json={"runnerToken": self.token})
        assert 200 == answer.status_code, answer.text
        return [job["uuid"] for job in answer.json()["jobs"]]

    def accept(self, job_uuid: str) -> httpx.Response:
        return self.client.post(
            f"/api/v1/runners/jobs/{job_uuid}/accept", json={"runnerToken": self.token}
        )

    def fail(self, job_uuid: str, how: str = "error") -> None:
        """Accept the job and end the attempt with an `error` (or an `abort`)."""
        accepted = self.accept(job_uuid)
        assert 200 == accepted.status_code, accepted.text
        body = {"runnerToken": self.token, "jobToken": accepted.json()["job"]["jobToken"]}
        body.update(
            {"message": "deterministic failure"} if how == "error" else {"reason": "Runner stopped"}
        )
        answer = self.client.post(f"/api/v1/runners/jobs/{job_uuid}/{how}", json=body)
        assert 204 == answer.status_code, answer.text


def enqueue(instance: RunningInstance) -> str:
    spec = JobSpec(
        JobType.VOD_WEB_VIDEO,
        {"input": {}, "output": {"resolution": 720, "fps": 25}},
        {"videoUUID": str(uuid.uuid4())},
        priority=100,
    )
    [job] = instance.call(instance.services.jobs.enqueue, [spec])
    return str(job.uuid)


def admin_job(instance: RunningInstance, job_uuid: str) -> dict[str, Any]:
    with instance.admin() as c:
        [job] = c.get("/api/v1/runners/jobs", params={"search": job_uuid}).json()["data"]
    return dict(job)


def test_an_errored_job_waits_out_a_backoff_that_doubles_with_each_error(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """After errors 1, 2, 3 the job is off request, claim and accept for 10, 20, 40 s, then offered again; the admin sees when."""
    clock = ManualClock()
    instance = instance_factory(
        now=clock, retry_backoff_s=FIRST_S, retry_backoff_max_s=120.0, retry_backoff_jitter=0.0
    )
    job_uuid = enqueue(instance)
    runner = Runner(instance)
    waits = []
    for backoff_s in (FIRST_S, 2 * FIRST_S, 4 * FIRST_S):
        runner.fail(job_uuid)
        failed_at = clock()
        clock.advance(backoff_s - EARLY_S)
        refused = runner.accept(job_uuid)
        assert ([], [], 409) == (runner.offered(), runner.claimed(), refused.status_code), (
            refused.text
        )
        assert "runner_job_not_in_pending_state" == refused.json()["code"]
        waits.append(
            datetime.fromisoformat(admin_job(instance, job_uuid)["nextOfferAt"]) - failed_at
        )
        clock.advance(EARLY_S + LATE_S)
        assert [job_uuid] == runner.offered()
    runner.client.close()

    assert [timedelta(seconds=s) for s in (10, 20, 40)] == waits
    assert 3 == admin_job(instance, job_uuid)["failures"]


def test_an_aborted_job_is_offered_again_at_once(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """With the backoff on, an abort (the runner stopping) re-offers the job at once and does not count."""
    clock = ManualClock()
    instance = instance_factory(now=clock, retry_backoff_s=FIRST_S)
    job_uuid = enqueue(instance)
    runner = Runner(instance)

    runner.fail(job_uuid, how="abort")

    assert [job_uuid] == runner.offered()
    assert (0, None) == (
        admin_job(instance, job_uuid)["failures"],
        admin_job(instance, job_uuid).get("nextOfferAt"),
    )
    runner.client.close()


async def test_socket_runners_hear_of_the_job_when_its_backoff_ends(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """No `available-jobs` after the error; one once the 2 s backoff is over, when the job is offered again."""
    backoff_s = 2.0
    instance = instance_factory(
        retry_backoff_s=backoff_s, retry_backoff_jitter=0.0, socket_debounce_s=0.2
    )
    runner = Runner(instance)
    async with runner_socket(instance, runner.token) as sock:
        job_uuid = enqueue(instance)
        await sock.wait_for_pings(1)  # the job's creation
        before_error = time.monotonic()
        runner.fail(job_uuid)
        assert [] == runner.offered()
        await sock.wait_for_pings(2)
        heard = sock.pings[1]
        assert [job_uuid] == runner.offered()
    runner.client.close()

    assert heard - before_error >= backoff_s


def test_a_local_job_backing_off_lets_the_next_local_job_through(
    instance_factory: Callable[..., RunningInstance], media_clips: MediaClips
) -> None:
    """Remote VOD off: the local worker's next claim after an error is the other video's job, and the failed one after its backoff."""
    clock = ManualClock()
    instance = instance_factory(
        now=clock,
        remote_vod=False,
        local_transcoding_concurrency=0,
        retry_backoff_s=FIRST_S,
        retry_backoff_jitter=0.0,
    )
    for name in ("first", "second"):
        assert 200 == upload(instance, media_clips.small, name=name).status_code
    first, second = sorted(
        (j for j in jobs_of(instance) if j["state"]["id"] == int(JobState.PENDING)),
        key=lambda j: j["createdAt"],
    )
    workers = instance.services.extras["media"].workers
    jobs = instance.services.jobs

    taken = instance.call(workers.claim)
    assert first["uuid"] == taken.uuid
    instance.call(jobs.error, taken, "deterministic failure")
    then = instance.call(workers.claim)
    clock.advance(FIRST_S + LATE_S)
    again = instance.call(workers.claim)

    assert (second["uuid"], first["uuid"]) == (
        then.uuid if then else None,
        again.uuid if again else None,
    )
