"""Instance processes sharing a database: registered at start, heartbeating, forgotten at stop.

On PostgreSQL each process also holds a *liveness lock*: a session-level advisory lock on a
connection of its own (`ProcessLock`). The server releases it the instant that connection
drops, so when a process dies (even by SIGKILL) the others can see it in `pg_locks` right
away, where a heartbeat would have to go silent for a long timeout first.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from offload.store.dedicated import DedicatedConnection
from offload.store.tables import instance_processes

__all__ = ["LIVENESS_LOCK_CLASS", "ProcessLock", "ProcessRepository", "liveness_key"]

_p = instance_processes

#: First key of the two-key advisory locks that prove an instance process alive ("offp" in
#: ASCII). Two-key locks show in `pg_locks` with `objsubid = 2`, apart from one-key locks
#: such as the migrations' (`objsubid = 1`).
LIVENESS_LOCK_CLASS = 0x6F666670


def liveness_key(process_id: str) -> int:
    """The second key of a process's liveness lock: 31 bits of its random hex id (positive, so
    the same number as `pg_locks.objid`, an unsigned oid)."""
    return int(process_id[:8], 16) & 0x7FFFFFFF


class ProcessRepository:
    async def register(
        self, conn: AsyncConnection, process_id: str, host: str, pid: int, now: datetime
    ) -> None:
        await conn.execute(
            sa.insert(_p).values(
                id=process_id, host=host[:255], pid=pid, started_at=now, seen_at=now
            )
        )

    async def heartbeat(self, conn: AsyncConnection, process_id: str, now: datetime) -> bool:
        """Refresh `seen_at`; False when the row is gone (another process declared us dead)."""
        result = await conn.execute(sa.update(_p).where(_p.c.id == process_id).values(seen_at=now))
        return result.rowcount == 1

    async def forget(self, conn: AsyncConnection, *process_ids: str) -> None:
        if process_ids:
            await conn.execute(sa.delete(_p).where(_p.c.id.in_(process_ids)))

    async def live_ids(self, conn: AsyncConnection, seen_since: datetime) -> set[str]:
        rows = (await conn.execute(sa.select(_p.c.id).where(_p.c.seen_at >= seen_since))).all()
        return {row.id for row in rows}

    async def forget_silent(self, conn: AsyncConnection, seen_before: datetime) -> int:
        """Drop the rows of processes silent since `seen_before` (crashed without a goodbye)."""
        result = await conn.execute(sa.delete(_p).where(_p.c.seen_at < seen_before))
        return int(result.rowcount)

    async def holding_liveness_lock(
        self, conn: AsyncConnection, process_ids: Iterable[str]
    ) -> set[str]:
        """Those of `process_ids` whose liveness lock is held in this database right now
        (PostgreSQL only)."""
        held = (
            await conn.execute(
                sa.text(
                    "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid = :class AND objsubid = 2"
                    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"class": LIVENESS_LOCK_CLASS},
            )
        ).scalars()
        keys = {int(key) for key in held}
        return {process_id for process_id in process_ids if liveness_key(process_id) in keys}


class ProcessLock:
    """This process's liveness lock, taken again whenever its connection comes back."""

    def __init__(self, dsn: str, process_id: str) -> None:
        self.key = liveness_key(process_id)
        self._session = DedicatedConnection(dsn, self._take, name="liveness lock")

    @property
    def held_for_s(self) -> float:
        """How long the lock has been held without interruption, 0 while it is not."""
        return self._session.up_for_s

    async def start(self) -> None:
        await self._session.start()

    async def close(self) -> None:
        """Closing the connection releases the lock."""
        await self._session.close()

    async def _take(self, conn: asyncpg.Connection) -> None:
        # try-lock, never wait: the only other holder can be our own previous session, not
        # yet ended on the server's side; the next attempt will find it gone.
        if not await conn.fetchval(
            "SELECT pg_try_advisory_lock($1, $2)", LIVENESS_LOCK_CLASS, self.key
        ):
            raise _LockBusy(f"liveness lock {self.key} is still held")


class _LockBusy(Exception):
    """Our previous session still holds the lock: connect again later."""
