"""Offload's push on `/runners`: when an admin cancels (or deletes) a job a runner is processing,
or the watchdog takes it back, the instance sends `job-revoked` to that runner's sockets only,
so it can stop at once instead of at its next progress update. The official runner ignores
the unknown event and finds out from the update's 404 as before."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.ladder import enqueue_upload_ladder, register_runner
from tests.sockets import runner_socket
from tests.support import RunningInstance

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


async def accept(instance: RunningInstance, runner_token: str, job_uuid: str) -> None:
    async with httpx.AsyncClient(base_url=instance.url) as c:
        r = await c.post(
            f"/api/v1/runners/jobs/{job_uuid}/accept", json={"runnerToken": runner_token}
        )
    assert 200 == r.status_code, r.text


async def admin_post(instance: RunningInstance, path: str) -> int:
    async with httpx.AsyncClient(
        base_url=instance.url, headers={"Authorization": f"Bearer {instance.admin_token()}"}
    ) as c:
        return (await c.post(path)).status_code


async def test_cancelling_a_processing_job_tells_its_runner_only(instance: RunningInstance) -> None:
    holder, bystander = (
        register_runner(instance, name="holder"),
        register_runner(instance, name="bystander"),
    )
    job_uuid = enqueue_upload_ladder(instance)[0].uuid
    async with (
        runner_socket(instance, holder["runnerToken"]) as held,
        runner_socket(instance, bystander["runnerToken"]) as other,
    ):
        await accept(instance, holder["runnerToken"], job_uuid)

        assert 204 == await admin_post(instance, f"/api/v1/runners/jobs/{job_uuid}/cancel")

        assert {"jobUUID": job_uuid, "reason": "cancelled"} == await held.wait_for_revocation(
            job_uuid
        )
        assert [] == await other.revocations_after_quiet_period()


async def test_cancelling_a_pending_job_tells_nobody(instance: RunningInstance) -> None:
    runner = register_runner(instance)
    job_uuid = enqueue_upload_ladder(instance)[0].uuid
    async with runner_socket(instance, runner["runnerToken"]) as sock:
        assert 204 == await admin_post(instance, f"/api/v1/runners/jobs/{job_uuid}/cancel")

        assert [] == await sock.revocations_after_quiet_period()


async def test_a_stalled_job_is_revoked_from_its_silent_runner(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """The watchdog re-queues a job whose runner stopped updating, and tells that runner."""
    instance = instance_factory(stalled_vod_s=1.0, watchdog_interval_s=0.2)
    runner = register_runner(instance)
    job_uuid = enqueue_upload_ladder(instance)[0].uuid
    async with runner_socket(instance, runner["runnerToken"]) as sock:
        await accept(instance, runner["runnerToken"], job_uuid)

        assert {"jobUUID": job_uuid, "reason": "stalled"} == await sock.wait_for_revocation(
            job_uuid
        )
