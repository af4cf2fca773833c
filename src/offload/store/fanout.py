"""Runner pushes across instance processes that share one PostgreSQL database.

Each process debounces its own triggers (`offload.instance.notifier`). When its window closes
it pings the runners connected to it *and* sends `NOTIFY offload_available_jobs`; every other
process LISTENs on that channel and pings its own runners. A runner connected to process B
thus hears of a job that process A created, within one debounce window. `job-revoked` pushes
travel the same way on `offload_job_revoked`, to whichever process holds the runner's socket.

Notifications lost while the listening connection is down are not replayed: runners poll
as a safety net (Offload's runner does; the official one re-requests after each job).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from offload.store.dedicated import DedicatedConnection, asyncpg_dsn

__all__ = ["CHANNEL", "REVOKED_CHANNEL", "PgFanout", "asyncpg_dsn"]

log = logging.getLogger(__name__)

CHANNEL = "offload_available_jobs"
REVOKED_CHANNEL = "offload_job_revoked"


class PgFanout:
    """Broadcast locally and to the other processes; relay their broadcasts to local runners."""

    def __init__(
        self,
        dsn: str,
        local_broadcast: Callable[[], Awaitable[None]],
        local_revoke: Callable[[int, str, str], Awaitable[None]],
    ) -> None:
        self._local_broadcast = local_broadcast
        self._local_revoke = local_revoke
        #: Identifies this process's own notifications, which it has already acted on.
        self.process_id = uuid.uuid4().hex
        self._listener = DedicatedConnection(dsn, self._listen, name="available-jobs listener")
        self._relays: set[asyncio.Task[None]] = set()
        #: Notifications received from other processes, for metrics and tests.
        self.relayed = 0

    @property
    def listening(self) -> bool:
        return self._listener.connected

    async def start(self) -> None:
        """Listen from now on; returns once the first connection listens (or failed once)."""
        await self._listener.start()

    async def broadcast(self) -> None:
        """The notifier's send: this process's runners, then every other process."""
        await self._local_broadcast()
        await self._notify(CHANNEL, self.process_id)

    async def revoke(self, runner_id: int, job_uuid: str, reason: str) -> None:
        """The job service's `on_revoked`: the runner's sockets, wherever they are connected."""
        await self._local_revoke(runner_id, job_uuid, reason)
        message = {
            "from": self.process_id,
            "runnerId": runner_id,
            "jobUUID": job_uuid,
            "reason": reason,
        }
        await self._notify(REVOKED_CHANNEL, json.dumps(message))

    async def _notify(self, channel: str, payload: str) -> None:
        # While reconnecting this sends nothing: runners on other processes fall back on
        # polling and updates.
        try:
            await self._listener.run(
                lambda conn: conn.execute("SELECT pg_notify($1, $2)", channel, payload)
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("NOTIFY %s failed: %s", channel, exc)

    async def close(self) -> None:
        await self._listener.close()
        for task in list(self._relays):
            task.cancel()

    # ---- internals ----------------------------------------------------------------------

    async def _listen(self, conn: asyncpg.Connection) -> None:
        await conn.add_listener(CHANNEL, self._on_notification)
        await conn.add_listener(REVOKED_CHANNEL, self._on_revoked)

    def _on_notification(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload == self.process_id:
            return
        self.relayed += 1
        self._spawn(self._relay())

    def _on_revoked(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            message = json.loads(payload)
            if message["from"] == self.process_id:
                return
            push = self._local_revoke(
                int(message["runnerId"]), str(message["jobUUID"]), str(message["reason"])
            )
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed %s notification: %r", REVOKED_CHANNEL, payload[:200])
            return
        self.relayed += 1
        self._spawn(self._guarded(push, "relaying job-revoked"))

    async def _relay(self) -> None:
        await self._guarded(self._local_broadcast(), "relaying available-jobs")

    @staticmethod
    async def _guarded(push: Awaitable[None], what: str) -> None:
        try:
            await push
        except Exception:  # a failed push must never take the listener down
            log.exception("%s failed", what)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._relays.add(task)
        task.add_done_callback(self._relays.discard)
