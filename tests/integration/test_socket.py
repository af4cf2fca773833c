"""The `/runners` socket.io namespace with a real python-socketio client over WebSocket:
authentication and `available-jobs` pings (protocol.md §7, §11 items 108–113)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import socketio

from offload.domain.jobs import JobSpec, JobType
from tests.ladder import enqueue_upload_ladder, register_runner
from tests.sockets import NAMESPACE, runner_socket
from tests.support import RunningInstance


async def connect_error(instance: RunningInstance, auth: dict[str, Any]) -> str:
    """Connect with `auth` and return the message of the namespace's connect_error."""
    client = socketio.AsyncClient(reconnection=False)
    errors: list[Any] = []

    @client.on("connect_error", namespace=NAMESPACE)
    def _error(data: Any = None) -> None:
        errors.append(data)

    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(
            instance.url, namespaces=[NAMESPACE], transports=["websocket"], auth=auth
        )
    await client.disconnect()
    [data] = errors
    return str(data.get("message") if isinstance(data, dict) else data)


def complete(instance: RunningInstance, runner_token: str, job_uuid: str) -> None:
    """Accept and succeed a job over HTTP, as a runner does."""
    with instance.client() as c:
        accepted = c.post(
            f"/api/v1/runners/jobs/{job_uuid}/accept", json={"runnerToken": runner_token}
        )
        assert 200 == accepted.status_code, accepted.text
        fields = {"runnerToken": runner_token, "jobToken": accepted.json()["job"]["jobToken"]}
        r = c.post(
            f"/api/v1/runners/jobs/{job_uuid}/success",
            data=fields,
            files={"payload[videoFile]": ("out.mp4", b"mp4")},
        )
        assert 204 == r.status_code, r.text


async def test_connect_without_token_is_refused(instance: RunningInstance) -> None:
    """Connecting to `/runners` without a runner token fails with "No runner token provided" (item 108)."""
    assert "No runner token provided" in await connect_error(instance, {})


async def test_connect_with_unknown_token_is_refused(instance: RunningInstance) -> None:
    """Connecting with an unknown runner token fails with "Invalid runner token" (item 109)."""
    assert "Invalid runner token" in await connect_error(
        instance, {"runnerToken": "ptrt-" + str(uuid.uuid4())}
    )


async def test_no_ping_without_jobs(instance: RunningInstance) -> None:
    """A connected runner gets no `available-jobs` while there is no job (item 110)."""
    runner = register_runner(instance)
    async with runner_socket(instance, runner["runnerToken"]) as sock:
        assert 0 == await sock.pings_after_quiet_period()


async def test_each_upload_pings_once(instance: RunningInstance) -> None:
    """Each upload that creates a pending job gives exactly one more `available-jobs` (item 111)."""
    runner = register_runner(instance)
    async with runner_socket(instance, runner["runnerToken"]) as sock:
        enqueue_upload_ladder(instance)
        await sock.wait_for_pings(1)
        enqueue_upload_ladder(instance)
        await sock.wait_for_pings(2)

        assert 2 == await sock.pings_after_quiet_period()


async def test_completing_a_parent_pings(instance: RunningInstance) -> None:
    """Completing a job whose children become pending gives one more `available-jobs` (item 112)."""
    runner = register_runner(instance)
    async with runner_socket(instance, runner["runnerToken"]) as sock:
        parent = enqueue_upload_ladder(instance)[0].uuid
        await sock.wait_for_pings(1)
        complete(instance, runner["runnerToken"], parent)
        await sock.wait_for_pings(2)

        assert 2 == await sock.pings_after_quiet_period()


async def test_completing_a_childless_job_does_not_ping(instance: RunningInstance) -> None:
    """Completing a job without children gives no `available-jobs`, even after the debounce (item 113)."""
    runner = register_runner(instance)
    spec = JobSpec(
        JobType.VOD_WEB_VIDEO,
        {"input": {}, "output": {"resolution": 720, "fps": 25}},
        {"videoUUID": str(uuid.uuid4())},
        priority=100,
    )
    async with runner_socket(instance, runner["runnerToken"]) as sock:
        [job] = instance.call(instance.services.jobs.enqueue, [spec])
        await sock.wait_for_pings(1)
        complete(instance, runner["runnerToken"], job.uuid)

        assert 1 == await sock.pings_after_quiet_period()


async def test_requeue_by_abort_pings(instance: RunningInstance) -> None:
    """A runner's abort puts the job back in PENDING and pings the runners (§7)."""
    runner = register_runner(instance)
    async with runner_socket(instance, runner["runnerToken"]) as sock:
        job_uuid = enqueue_upload_ladder(instance)[0].uuid
        await sock.wait_for_pings(1)
        async with httpx.AsyncClient(base_url=instance.url) as c:
            accepted = await c.post(
                f"/api/v1/runners/jobs/{job_uuid}/accept",
                json={"runnerToken": runner["runnerToken"]},
            )
            body = {
                "runnerToken": runner["runnerToken"],
                "jobToken": accepted.json()["job"]["jobToken"],
                "reason": "Runner stopped",
            }
            assert (
                204
                == (await c.post(f"/api/v1/runners/jobs/{job_uuid}/abort", json=body)).status_code
            )
        await sock.wait_for_pings(2)
