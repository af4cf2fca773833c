"""Attempt history is kept for `attempt_retention_s`: a watchdog pass prunes the attempts of
finished jobs that ended before that, in bounded batches, and nothing of a job still in play."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from offload.domain.jobs import JobSpec, JobType
from tests.clock import ManualClock
from tests.ladder import register_runner
from tests.support import RunningInstance

CLAIM = "/api/v1/runners/jobs/claim"
RETENTION_S = 3600.0


def spec() -> JobSpec:
    return JobSpec(
        JobType.VOD_WEB_VIDEO,
        {"input": {}, "output": {"resolution": 720, "fps": 25}},
        {"videoUUID": str(uuid.uuid4())},
        priority=100,
    )


def test_a_watchdog_pass_prunes_old_attempts_of_finished_jobs(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """Past the retention, a cancelled job loses its attempts; a job failed back on offer
    keeps its old one, and a job cancelled within the retention keeps its own."""
    clock = ManualClock()
    instance = instance_factory(
        now=clock, attempt_retention_s=RETENTION_S, watchdog_interval_s=3600.0
    )
    token = register_runner(instance)["runnerToken"]
    jobs = instance.services.jobs
    old_cancelled, retried, recent_cancelled = instance.call(jobs.enqueue, [spec(), spec(), spec()])
    with instance.client() as c:
        first = c.post(CLAIM, json={"runnerToken": token, "maxJobs": 2}).json()["jobs"]
        assert [old_cancelled.uuid, retried.uuid] == [j["uuid"] for j in first]
        instance.call(jobs.cancel, old_cancelled.uuid)
        r = c.post(
            f"/api/v1/runners/jobs/{retried.uuid}/error",
            json={"runnerToken": token, "jobToken": first[1]["jobToken"], "message": "boom"},
        )
        assert 204 == r.status_code, r.text
        clock.advance(RETENTION_S + 1)
        second = c.post(CLAIM, json={"runnerToken": token, "maxJobs": 2}).json()["jobs"]
        assert [retried.uuid, recent_cancelled.uuid] == [j["uuid"] for j in second]
    instance.call(jobs.cancel, recent_cancelled.uuid)

    instance.call(jobs.reap)

    assert [] == outcomes(instance, old_cancelled.uuid)
    assert ["errored", None] == outcomes(instance, retried.uuid)
    assert ["cancelled"] == outcomes(instance, recent_cancelled.uuid)


def outcomes(instance: RunningInstance, job_uuid: str) -> list[str | None]:
    _view, _children, attempts = instance.call(instance.services.jobs.details, job_uuid)
    return [a.outcome for a in attempts]
