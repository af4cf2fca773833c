"""Job states that tests set up directly in the database, where no API call can make them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from offload.domain.jobs import JobState
from offload.store.tables import instance_processes, runner_jobs
from tests.support import RunningInstance, wait_until

__all__ = ["force_completing", "watchdog_passes"]


def force_completing(
    instance: RunningInstance,
    job_uuid: str,
    updated_at: datetime | None = None,
    owner: str | None = None,
) -> None:
    """Put an accepted job in COMPLETING (since `updated_at`, when given), its completion run by
    the instance process `owner` (default: the instance's own, alive, process)."""
    values: dict[str, object] = {
        "state": int(JobState.COMPLETING),
        "completing_by": owner or instance.services.jobs.process_id,
    }
    if updated_at is not None:
        values["updated_at"] = updated_at

    async def write() -> None:
        async with instance.services.db.write() as conn:
            await conn.execute(
                sa.update(runner_jobs).where(runner_jobs.c.uuid == job_uuid).values(**values)
            )

    instance.call(write)


def _heartbeat_of(instance: RunningInstance) -> datetime | None:
    async def read() -> datetime | None:
        async with instance.services.db.read() as conn:
            query = sa.select(instance_processes.c.seen_at).where(
                instance_processes.c.id == instance.services.jobs.process_id
            )
            moment: datetime | None = (await conn.execute(query)).scalar()
            return moment

    moment: datetime | None = instance.call(read)
    return moment


def watchdog_passes(instance: RunningInstance, count: int) -> None:
    """Wait until `instance`'s watchdog has made `count` more passes (each one heartbeats)."""
    for _ in range(count):
        seen = _heartbeat_of(instance)
        wait_until(
            lambda seen=seen: (
                (moment := _heartbeat_of(instance)) is not None and (seen is None or moment > seen)
            ),
            timeout_s=10,
            message="a watchdog pass",
        )
