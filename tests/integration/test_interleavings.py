"""Use cases that read a job and then write it, each raced by a write landing in between at a
chosen point: the state the write acts on must be the one in the database, not the one read."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import httpx

from offload.domain import tokens
from offload.domain.jobs import Job, JobSpec, JobState, JobType
from tests.clock import ManualClock
from tests.ladder import register_runner
from tests.support import RunningInstance

STALLED_S = 60.0


def enqueue(instance: RunningInstance, count: int) -> list[Job]:
    specs = []
    for _ in range(count):
        video = str(uuid.uuid4())
        specs.append(
            JobSpec(
                JobType.VOD_WEB_VIDEO,
                {"input": {}, "output": {"resolution": 720, "fps": 25}},
                {"videoUUID": video},
                priority=100,
            )
        )
    return list(instance.call(instance.services.jobs.enqueue, specs))


def test_reaping_spares_a_job_updated_after_the_watchdog_looked(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """Two stalled jobs, the second heartbeated after the watchdog listed both: only the first goes back to PENDING."""
    clock = ManualClock()
    instance = instance_factory(now=clock, stalled_vod_s=STALLED_S, watchdog_interval_s=3600.0)
    jobs = instance.services.jobs
    first, second = (job.uuid for job in enqueue(instance, 2))
    runner_token = register_runner(instance)["runnerToken"]
    job_tokens: dict[str, str] = {}
    with instance.client() as c:
        for job_uuid in (first, second):
            accepted = c.post(
                f"/api/v1/runners/jobs/{job_uuid}/accept", json={"runnerToken": runner_token}
            )
            assert 200 == accepted.status_code, accepted.text
            job_tokens[job_uuid] = accepted.json()["job"]["jobToken"]
    clock.advance(2 * STALLED_S)

    # The watchdog tells the runner of each job it took back; that push is where the other job's
    # runner gets its heartbeat in, after the watchdog's read and before its write of that job.
    pushed = jobs.on_revoked
    heartbeats: list[tuple[str, int]] = []

    async def heartbeat_the_other_job(runner_id: int, job_uuid: str, reason: str) -> None:
        if pushed is not None:
            await pushed(runner_id, job_uuid, reason)
        if heartbeats:
            return
        other = second if job_uuid == first else first
        fields = {"runnerToken": runner_token, "jobToken": job_tokens[other], "progress": "10"}
        async with httpx.AsyncClient(base_url=instance.url, timeout=30.0) as client:
            answer = await client.post(
                f"/api/v1/runners/jobs/{other}/update",
                files=[(k, (None, v.encode())) for k, v in fields.items()],
            )
        heartbeats.append((other, answer.status_code))

    jobs.on_revoked = heartbeat_the_other_job
    moved = instance.call(jobs.reap)

    [(updated, status)] = heartbeats
    [reaped] = {first, second} - {updated}
    assert 204 == status
    assert (JobState.PROCESSING, JobState.PENDING) == (
        instance.call(jobs.get, updated).state,
        instance.call(jobs.get, reaped).state,
    )
    assert 1 == moved


def test_cancel_closes_the_attempt_of_a_job_accepted_while_it_was_cancelling(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """A PENDING job accepted between cancel's look and its write ends CANCELLED with that attempt closed as cancelled."""
    clock = ManualClock()
    instance = instance_factory(now=clock)
    jobs = instance.services.jobs
    [job] = enqueue(instance, 1)
    runner = instance.call(
        instance.services.runners.authenticate, register_runner(instance)["runnerToken"]
    )

    async def accept_while_cancelling() -> Job:
        # The accept's transaction stays open until cancel asked the time, i.e. until it has
        # done whatever it does before writing; then it commits and cancel's write goes on.
        async with instance.services.db.write() as conn:
            accepted = await jobs.repo.accept(
                conn, job.id, runner.id, tokens.digest(tokens.new_job_token()), clock()
            )
            assert accepted is not None
            await jobs.repo.open_attempt(conn, accepted, runner.id, runner.name, clock())
            cancelling = asyncio.create_task(jobs.cancel(job.uuid))
            await clock.asked_by(cancelling)
        return await cancelling

    cancelled = instance.call(accept_while_cancelling)

    _, _, attempts = instance.call(jobs.details, job.uuid)
    assert JobState.CANCELLED == cancelled.state
    assert [(1, "cancelled", True)] == [
        (a.attempt, a.outcome, a.ended_at is not None) for a in attempts
    ]
