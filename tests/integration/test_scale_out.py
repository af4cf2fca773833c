"""Several instance processes on one PostgreSQL database: runners connected to any of them hear
of jobs created on any other (LISTEN/NOTIFY), and processes starting together migrate in turn."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from offload.store.database import Database
from tests.ladder import enqueue_upload_ladder, register_runner
from tests.sockets import runner_socket
from tests.support import PgCluster, RunningInstance

pytestmark = pytest.mark.postgres


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

    async with runner_socket(second, token) as on_second, runner_socket(first, other_token) as on_first:
        await asyncio.to_thread(enqueue_upload_ladder, first)
        await on_second.wait_for_pings(1)
        await on_first.wait_for_pings(1)

    assert 1 <= second.services.extras["fanout"].relayed
    assert 0 == first.services.extras["fanout"].relayed


async def test_processes_starting_together_migrate_one_after_the_other(pg: PgCluster | None) -> None:
    """Two migrations racing on an empty database both succeed (an advisory lock orders them)."""
    if pg is None:
        pytest.skip("PostgreSQL not available (set OFFLOAD_REQUIRE_POSTGRES=1 to make this fail)")
    url = pg.url(pg.create_database())
    databases = [Database(url), Database(url)]
    try:
        await asyncio.gather(*(db.upgrade() for db in databases))
        async with databases[0].read() as conn:
            version = (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        for db in databases:
            await db.dispose()

    assert "0003_video_owner" == version
