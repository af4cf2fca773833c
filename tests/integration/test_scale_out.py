"""Several instance processes on one PostgreSQL database: runners connected to any of them hear
of jobs created on any other (LISTEN/NOTIFY), and processes starting together migrate in turn."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from alembic.script import ScriptDirectory

from offload.domain.jobs import JobState
from offload.store.database import Database, alembic_config
from tests.jobs import force_completing, watchdog_passes
from tests.ladder import enqueue_upload_ladder, register_runner
from tests.sockets import runner_socket
from tests.support import PgCluster, RunningInstance, wait_until

pytestmark = pytest.mark.postgres


def completing_job(instance: RunningInstance) -> str:
    """A job accepted by a runner and now COMPLETING in `instance`'s process, as if a `success`
    were being verified there; returns its UUID."""
    job = enqueue_upload_ladder(instance)[0]
    token = register_runner(instance, name="done")["runnerToken"]
    with instance.client() as c:
        assert (
            200
            == c.post(
                f"/api/v1/runners/jobs/{job.uuid}/accept", json={"runnerToken": token}
            ).status_code
        )
    force_completing(instance, job.uuid)
    return job.uuid


def state_of(instance: RunningInstance, job_uuid: str) -> JobState:
    return instance.call(instance.services.jobs.get, job_uuid).state


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_job_created_on_one_process_wakes_runners_on_another(
    instance_factory: Callable[..., RunningInstance], database_url: str
) -> None:
    """A runner on process B gets `available-jobs` for a job enqueued on process A, and one
    on A still hears its own process's ping."""
    first = instance_factory()
    second = instance_factory(database_url=database_url)
    token = register_runner(first, name="on-b")["runnerToken"]
    other_token = register_runner(first, name="on-a")["runnerToken"]

    async with (
        runner_socket(second, token) as on_second,
        runner_socket(first, other_token) as on_first,
    ):
        await asyncio.to_thread(enqueue_upload_ladder, first)
        await on_second.wait_for_pings(1)
        await on_first.wait_for_pings(1)

    assert 1 <= second.services.extras["fanout"].relayed
    assert 0 == first.services.extras["fanout"].relayed


async def test_processes_starting_together_migrate_one_after_the_other(
    pg: PgCluster | None,
) -> None:
    """Two migrations racing on an empty database both succeed (an advisory lock orders them)."""
    if pg is None:
        pytest.skip("PostgreSQL not available (set OFFLOAD_REQUIRE_POSTGRES=1 to make this fail)")
    url = pg.url(pg.create_database())
    databases = [Database(url), Database(url)]
    try:
        await asyncio.gather(*(db.upgrade() for db in databases))
        async with databases[0].read() as conn:
            version = (
                await conn.exec_driver_sql("SELECT version_num FROM alembic_version")
            ).scalar_one()
    finally:
        for db in databases:
            await db.dispose()

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == version


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_living_process_keeps_its_completion_and_a_stopped_ones_is_redone(
    instance_factory: Callable[..., RunningInstance], database_url: str
) -> None:
    """A process starting or watching beside another leaves that one's completion alone; once
    the owner stops, the completion is redone elsewhere, not counted as a failure."""
    first = instance_factory()
    job_uuid = completing_job(first)
    second = instance_factory(database_url=database_url, watchdog_interval_s=0.2)

    watchdog_passes(second, 2)
    kept = state_of(second, job_uuid)
    first.stop()
    wait_until(
        lambda: state_of(second, job_uuid) is JobState.PENDING,
        timeout_s=10,
        message="completion redone",
    )

    assert JobState.COMPLETING is kept
    assert 0 == second.call(second.services.jobs.get, job_uuid).failures


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_silent_process_is_presumed_dead(
    instance_factory: Callable[..., RunningInstance], database_url: str
) -> None:
    """A process whose heartbeat stopped (hung, or killed without a goodbye) loses its completion
    once `process_timeout_s` has passed."""
    silent = instance_factory(watchdog_interval_s=3600.0)  # heartbeats once, at start-up
    job_uuid = completing_job(silent)
    watcher = instance_factory(
        database_url=database_url, watchdog_interval_s=0.2, process_timeout_s=1.0
    )

    wait_until(
        lambda: state_of(watcher, job_uuid) is JobState.PENDING,
        timeout_s=10,
        message="completion redone",
    )


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_revocation_reaches_the_runner_on_another_process(
    instance_factory: Callable[..., RunningInstance], database_url: str
) -> None:
    """An admin cancels on process A a job whose runner's socket is on process B: B pushes it."""
    first = instance_factory()
    second = instance_factory(database_url=database_url)
    token = register_runner(first, name="on-b")["runnerToken"]
    job_uuid = enqueue_upload_ladder(first)[0].uuid

    async with runner_socket(second, token) as on_second:
        with first.client() as c:
            assert (
                200
                == c.post(
                    f"/api/v1/runners/jobs/{job_uuid}/accept", json={"runnerToken": token}
                ).status_code
            )
        with first.admin() as c:
            assert 204 == c.post(f"/api/v1/runners/jobs/{job_uuid}/cancel").status_code

        assert {"jobUUID": job_uuid, "reason": "cancelled"} == await on_second.wait_for_revocation(
            job_uuid
        )
