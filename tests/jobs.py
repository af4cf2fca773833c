"""Job states that tests set up directly in the database, where no API call can make them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from offload.domain.jobs import JobState
from offload.store.tables import runner_jobs
from tests.support import RunningInstance

__all__ = ["force_completing"]


def force_completing(instance: RunningInstance, job_uuid: str, updated_at: datetime | None = None, owner: str | None = None) -> None:
    """Put an accepted job in COMPLETING (since `updated_at`, when given), its completion run by
    the instance process `owner` (default: the instance's own, alive, process)."""
    values: dict[str, object] = {"state": int(JobState.COMPLETING), "completing_by": owner or instance.services.jobs.process_id}
    if updated_at is not None:
        values["updated_at"] = updated_at

    async def write() -> None:
        async with instance.services.db.write() as conn:
            await conn.execute(sa.update(runner_jobs).where(runner_jobs.c.uuid == job_uuid).values(**values))

    instance.call(write)
