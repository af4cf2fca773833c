"""The stale-job watchdog over a running instance: protocol.md §4.4 and §11 items 70, 72."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from offload.domain.jobs import JobSpec, JobType
from tests.jobs import force_completing
from tests.ladder import register_runner
from tests.support import RunningInstance, wait_until

STALLED_S = 1.5
WATCHDOG_S = 0.2


def spec(job_type: JobType = JobType.VOD_WEB_VIDEO) -> JobSpec:
    video = str(uuid.uuid4())
    return JobSpec(
        job_type,
        {"input": {}, "output": {"resolution": 720, "fps": 25}},
        {"videoUUID": video},
        priority=100,
    )


def enqueue(instance: RunningInstance, *specs: JobSpec) -> list[str]:
    return [j.uuid for j in instance.call(instance.services.jobs.enqueue, list(specs))]


def accept(client: httpx.Client, job_uuid: str, runner_token: str) -> str:
    r = client.post(f"/api/v1/runners/jobs/{job_uuid}/accept", json={"runnerToken": runner_token})
    assert 200 == r.status_code, r.text
    return str(r.json()["job"]["jobToken"])


def update(client: httpx.Client, job_uuid: str, runner_token: str, job_token: str) -> int:
    fields = {"runnerToken": runner_token, "jobToken": job_token, "progress": "10"}
    return client.post(
        f"/api/v1/runners/jobs/{job_uuid}/update",
        files=[(k, (None, v.encode())) for k, v in fields.items()],
    ).status_code


def admin_job(instance: RunningInstance, job_uuid: str) -> dict[str, Any]:
    with instance.admin() as c:
        r = c.get("/api/v1/runners/jobs", params={"search": job_uuid})
    [job] = r.json()["data"]
    return dict(job)


def test_unattended_job_goes_back_to_pending_while_an_updated_one_keeps_processing(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """With a 1.5 s VOD threshold, a job never updated is re-queued; one updated every 0.5 s stays PROCESSING (item 70)."""
    instance = instance_factory(stalled_vod_s=STALLED_S, watchdog_interval_s=WATCHDOG_S)
    quiet, busy = enqueue(instance, spec(), spec())
    runner = register_runner(instance)["runnerToken"]
    with instance.client() as client:
        quiet_token = accept(client, quiet, runner)
        busy_token = accept(client, busy, runner)
        busy_states: list[int] = []
        quiet_state = 2
        # Heartbeat the busy job as a runner does, until the quiet one was re-queued and at least
        # twice the threshold has passed; the deadline turns a watchdog that never acts into a failure.
        start = time.monotonic()
        deadline = start + 10.0
        next_update = 0.0
        while quiet_state != 1 or time.monotonic() < start + 2 * STALLED_S:
            assert time.monotonic() < deadline, "the unattended job was never re-queued"
            if time.monotonic() >= next_update:
                assert 204 == update(client, busy, runner, busy_token)
                next_update = time.monotonic() + 0.5
            busy_states.append(int(instance.call(instance.services.jobs.get, busy).state))
            quiet_state = int(instance.call(instance.services.jobs.get, quiet).state)
            time.sleep(0.05)
        late_update = update(client, quiet, runner, quiet_token)

    assert {2} == set(busy_states)
    job = admin_job(instance, quiet)
    assert (0, None, None) == (job["failures"], job["progress"], job["runner"])
    assert "startedAt" not in job
    assert 404 == late_update


def test_stalled_live_job_errors(instance_factory: Callable[..., RunningInstance]) -> None:
    """A live job cannot be resumed elsewhere: when stalled it ends ERRORED "Stalled runner job" (§4.2, §4.4)."""
    instance = instance_factory(stalled_live_s=1.0, watchdog_interval_s=WATCHDOG_S)
    [live] = enqueue(instance, spec(JobType.LIVE_RTMP_HLS))
    runner = register_runner(instance)["runnerToken"]
    with instance.client() as client:
        accept(client, live, runner)

    wait_until(
        lambda: admin_job(instance, live)["state"]["id"] == 4,
        timeout_s=10,
        message="live job ERRORED",
    )
    job = admin_job(instance, live)
    assert (0, "Stalled runner job") == (job["failures"], job["error"])


def test_lost_completion_is_retried_with_one_failure(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """A COMPLETING job whose `updatedAt` is 7 h old goes back to PENDING with failures 1 (item 72)."""
    instance = instance_factory(watchdog_interval_s=WATCHDOG_S)
    lost, recent = enqueue(instance, spec(), spec())
    runner = register_runner(instance)["runnerToken"]
    with instance.client() as client:
        accept(client, lost, runner)
        accept(client, recent, runner)
    now = datetime.now(UTC)
    force_completing(instance, lost, now - timedelta(hours=7))
    force_completing(instance, recent, now - timedelta(hours=5))

    wait_until(
        lambda: admin_job(instance, lost)["state"]["id"] == 1,
        timeout_s=10,
        message="lost completion re-queued",
    )
    job = admin_job(instance, lost)
    assert (1, None, None) == (job["failures"], job["runner"], job["error"])
    assert 9 == admin_job(instance, recent)["state"]["id"]


def test_completion_of_a_gone_process_is_redone_at_once_without_a_failure(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """A COMPLETING job whose instance process is gone goes back to PENDING at the next pass,
    not counted; one this (living) process is completing is left alone."""
    instance = instance_factory(watchdog_interval_s=WATCHDOG_S)
    orphaned, own = enqueue(instance, spec(), spec())
    runner = register_runner(instance)["runnerToken"]
    with instance.client() as client:
        accept(client, orphaned, runner)
        accept(client, own, runner)
    now = datetime.now(UTC)
    force_completing(instance, orphaned, now, owner=uuid.uuid4().hex)
    force_completing(instance, own, now)

    wait_until(
        lambda: admin_job(instance, orphaned)["state"]["id"] == 1,
        timeout_s=10,
        message="orphaned completion re-queued",
    )
    job = admin_job(instance, orphaned)
    with instance.admin() as c:
        attempts = c.get(f"/api/v1/runners/jobs/{orphaned}").json()["attempts"]
    assert (0, None) == (job["failures"], job["runner"])
    assert "interrupted" == attempts[-1]["outcome"]
    assert 9 == admin_job(instance, own)["state"]["id"]
