"""Instance processes sharing a database: registered at start, heartbeating, forgotten at stop."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from offload.store.tables import instance_processes

__all__ = ["ProcessRepository"]

_p = instance_processes


class ProcessRepository:
    async def register(self, conn: AsyncConnection, process_id: str, host: str, pid: int, now: datetime) -> None:
        await conn.execute(
            sa.insert(_p).values(id=process_id, host=host[:255], pid=pid, started_at=now, seen_at=now)
        )

    async def heartbeat(self, conn: AsyncConnection, process_id: str, now: datetime) -> bool:
        """Refresh `seen_at`; False when the row is gone (another process declared us dead)."""
        result = await conn.execute(sa.update(_p).where(_p.c.id == process_id).values(seen_at=now))
        return result.rowcount == 1

    async def forget(self, conn: AsyncConnection, process_id: str) -> None:
        await conn.execute(sa.delete(_p).where(_p.c.id == process_id))

    async def live_ids(self, conn: AsyncConnection, seen_since: datetime) -> set[str]:
        rows = (await conn.execute(sa.select(_p.c.id).where(_p.c.seen_at >= seen_since))).all()
        return {row.id for row in rows}

    async def forget_silent(self, conn: AsyncConnection, seen_before: datetime) -> int:
        """Drop the rows of processes silent since `seen_before` (crashed without a goodbye)."""
        result = await conn.execute(sa.delete(_p).where(_p.c.seen_at < seen_before))
        return int(result.rowcount)
