"""The dashboard line every admin page shows, and which runners count as online."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from offload.domain.jobs import JobState
from offload.domain.runners import Runner
from offload.http.services import Services
from offload.store.tables import job_attempts, runners

__all__ = [
    "FAILED_OUTCOMES",
    "ONLINE_WINDOW_S",
    "Dashboard",
    "connected_runner_ids",
    "count_online_runners",
    "is_online",
    "load_dashboard",
]

#: A runner heard from this recently is online, socket or not (runners poll well within it).
ONLINE_WINDOW_S = 120.0
#: Attempt outcomes that count as failures; aborts, cancels and restarts are not the runner's fault.
FAILED_OUTCOMES = ("errored", "stalled", "refused", "lost")
FAILURE_WINDOW = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Dashboard:
    runners_online: int
    pending: int
    processing: int
    failures_last_hour: int


def connected_runner_ids(services: Services) -> set[int]:
    """Runners holding a `/runners` socket right now."""
    sockets = services.extras.get("sockets")
    connected = getattr(sockets, "connected", None) or {}
    return set(connected.values())


def is_online(runner: Runner, now: datetime, connected: set[int]) -> bool:
    return runner.id in connected or runner.last_contact >= now - timedelta(seconds=ONLINE_WINDOW_S)


async def count_online_runners(conn: AsyncConnection, now: datetime, connected: set[int]) -> int:
    """Registered runners heard from lately or holding a socket. A socket can outlive its
    runner's deletion for a moment: only existing runners are counted."""
    query = (
        sa.select(sa.func.count())
        .select_from(runners)
        .where(
            sa.or_(
                runners.c.last_contact >= now - timedelta(seconds=ONLINE_WINDOW_S),
                runners.c.id.in_(sorted(connected)),
            )
        )
    )
    return int((await conn.execute(query)).scalar_one())


async def load_dashboard(services: Services) -> Dashboard:
    # Read-only summary queries no use case needs, so they live with the page that shows them.
    now = services.runners.now()
    counts = await services.jobs.counts_by_state()
    async with services.db.read() as conn:
        online = await count_online_runners(conn, now, connected_runner_ids(services))
        failures = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(job_attempts)
                .where(
                    job_attempts.c.outcome.in_(FAILED_OUTCOMES),
                    job_attempts.c.ended_at >= now - FAILURE_WINDOW,
                )
            )
        ).scalar_one()
    return Dashboard(
        runners_online=int(online),
        pending=counts.get(JobState.PENDING, 0),
        processing=counts.get(JobState.PROCESSING, 0) + counts.get(JobState.COMPLETING, 0),
        failures_last_hour=int(failures),
    )
