"""`available-jobs` pings go to as many runners as there are jobs on offer (plus spares), in
waves until every connected runner has heard while jobs remain (`domain/wake.py`), with real
python-socketio clients over WebSocket on both databases."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable

import httpx

from offload.domain.jobs import JobSpec, JobType
from tests.ladder import register_runner
from tests.sockets import QUIET_S, RunnerSocket, runner_socket
from tests.support import RunningInstance, async_wait_until

#: Follow-up waves this far apart: several waves fit in a test.
FOLLOWUP_S = 0.5


def _spec() -> JobSpec:
    return JobSpec(
        JobType.VOD_WEB_VIDEO,
        {"input": {}, "output": {"resolution": 720, "fps": 25}},
        {"videoUUID": str(uuid.uuid4())},
        priority=100,
    )


@contextlib.asynccontextmanager
async def _runners(
    instance: RunningInstance, count: int
) -> AsyncIterator[list[tuple[str, RunnerSocket]]]:
    """`count` registered runners, each holding its socket: (runner token, socket)."""
    tokens = [register_runner(instance, name=f"runner-{i}")["runnerToken"] for i in range(count)]
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(runner_socket(instance, t)) for t in tokens]
        yield list(zip(tokens, sockets, strict=True))


def _pinged(runners: list[tuple[str, RunnerSocket]]) -> list[int]:
    return [len(sock.pings) for _, sock in runners]


async def _settled(runners: list[tuple[str, RunnerSocket]]) -> list[int]:
    """Ping counts once nothing is due any more: no change over a quiet window longer than the
    debounce and the follow-up interval."""
    while True:
        before = _pinged(runners)
        await asyncio.sleep(QUIET_S)
        if _pinged(runners) == before:
            return before


async def test_one_job_wakes_one_runner_and_the_spares_then_the_rest_in_waves(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """Eight runners, one job nobody takes: three pinged first (one + two spares), then the
    others in later waves, each runner once; then no more pings for that job."""
    instance = instance_factory(wake_followup_s=FOLLOWUP_S)
    async with _runners(instance, 8) as runners:
        instance.call(instance.services.jobs.enqueue, [_spec()])

        await async_wait_until(
            lambda: sum(_pinged(runners)) >= 3, timeout_s=10, message="the first wave"
        )
        first_wave = sum(_pinged(runners))
        settled = await _settled(runners)

    assert 3 == first_wave
    assert [1] * 8 == settled


async def test_a_job_taken_by_the_first_wave_wakes_nobody_else(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    instance = instance_factory(wake_followup_s=FOLLOWUP_S)
    async with _runners(instance, 8) as runners:
        [job] = instance.call(instance.services.jobs.enqueue, [_spec()])
        await async_wait_until(
            lambda: sum(_pinged(runners)) >= 1, timeout_s=10, message="the first wave"
        )
        token = next(t for t, sock in runners if sock.pings)
        async with httpx.AsyncClient(base_url=instance.url) as c:
            r = await c.post(f"/api/v1/runners/jobs/{job.uuid}/accept", json={"runnerToken": token})
        assert 200 == r.status_code, r.text

        settled = await _settled(runners)

    assert (3, 5) == (settled.count(1), settled.count(0))


async def test_as_many_jobs_as_runners_wake_them_all_at_once(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    instance = instance_factory(wake_followup_s=FOLLOWUP_S)
    async with _runners(instance, 6) as runners:
        instance.call(instance.services.jobs.enqueue, [_spec() for _ in range(6)])
        await async_wait_until(
            lambda: all(_pinged(runners)), timeout_s=10, message="every runner pinged"
        )

        assert [1] * 6 == await _settled(runners)


async def test_wake_all_pings_every_runner_as_peertube_does(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    instance = instance_factory(wake_all_runners=True)
    async with _runners(instance, 5) as runners:
        instance.call(instance.services.jobs.enqueue, [_spec()])
        await async_wait_until(
            lambda: all(_pinged(runners)), timeout_s=10, message="every runner pinged"
        )

        assert [1] * 5 == await _settled(runners)
