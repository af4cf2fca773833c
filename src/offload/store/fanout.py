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
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import sqlalchemy as sa

__all__ = ["CHANNEL", "REVOKED_CHANNEL", "PgFanout", "asyncpg_dsn"]

log = logging.getLogger(__name__)

CHANNEL = "offload_available_jobs"
REVOKED_CHANNEL = "offload_job_revoked"
#: Back-off between reconnection attempts of the listening connection.
_RECONNECT_DELAYS_S = (0.5, 1.0, 2.0, 5.0, 10.0)


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """`postgresql+asyncpg://…` as the plain `postgresql://…` DSN asyncpg itself takes."""
    url = sa.engine.make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class PgFanout:
    """Broadcast locally and to the other processes; relay their broadcasts to local runners."""

    def __init__(
        self,
        dsn: str,
        local_broadcast: Callable[[], Awaitable[None]],
        local_revoke: Callable[[int, str, str], Awaitable[None]],
    ) -> None:
        self._dsn = dsn
        self._local_broadcast = local_broadcast
        self._local_revoke = local_revoke
        #: Identifies this process's own notifications, which it has already acted on.
        self.process_id = uuid.uuid4().hex
        self._conn: asyncpg.Connection | None = None
        self._conn_lock = asyncio.Lock()
        self._supervisor: asyncio.Task[None] | None = None
        self._relays: set[asyncio.Task[None]] = set()
        self._closing = False
        self._connected = asyncio.Event()
        #: Notifications received from other processes, for metrics and tests.
        self.relayed = 0

    async def start(self) -> None:
        """Listen from now on; returns once the first connection listens (or failed once)."""
        self._supervisor = asyncio.create_task(self._supervise(), name="pg-fanout")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout=10)

    async def broadcast(self) -> None:
        """The notifier's send: this process's runners, then every other process."""
        await self._local_broadcast()
        await self._notify(CHANNEL, self.process_id)

    async def revoke(self, runner_id: int, job_uuid: str, reason: str) -> None:
        """The job service's `on_revoked`: the runner's sockets, wherever they are connected."""
        await self._local_revoke(runner_id, job_uuid, reason)
        message = {"from": self.process_id, "runnerId": runner_id, "jobUUID": job_uuid, "reason": reason}
        await self._notify(REVOKED_CHANNEL, json.dumps(message))

    async def _notify(self, channel: str, payload: str) -> None:
        conn = self._conn
        if conn is None:
            return  # reconnecting: runners on other processes fall back on polling and updates
        try:
            async with self._conn_lock:
                await conn.execute("SELECT pg_notify($1, $2)", channel, payload)
        except (asyncpg.PostgresError, OSError) as exc:
            log.warning("NOTIFY %s failed: %s", channel, exc)

    async def close(self) -> None:
        self._closing = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        for task in list(self._relays):
            task.cancel()
        await self._disconnect()

    # ---- internals ----------------------------------------------------------------------

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
            push = self._local_revoke(int(message["runnerId"]), str(message["jobUUID"]), str(message["reason"]))
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

    def _on_termination(self, _conn: Any) -> None:
        self._conn = None

    async def _supervise(self) -> None:
        attempt = 0
        while not self._closing:
            if self._conn is None or self._conn.is_closed():
                try:
                    conn = await asyncpg.connect(self._dsn, timeout=10)
                    await conn.add_listener(CHANNEL, self._on_notification)
                    await conn.add_listener(REVOKED_CHANNEL, self._on_revoked)
                    conn.add_termination_listener(self._on_termination)
                    self._conn = conn
                    if attempt:
                        log.info("available-jobs listener reconnected")
                    attempt = 0
                except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
                    delay = _RECONNECT_DELAYS_S[min(attempt, len(_RECONNECT_DELAYS_S) - 1)]
                    attempt += 1
                    log.warning("available-jobs listener cannot connect (%s); retrying in %.1f s", exc, delay)
                    self._connected.set()  # start-up must not wait on a database hiccup
                    await asyncio.sleep(delay)
                    continue
                self._connected.set()
            # asyncpg reports a dropped connection through the termination listener; check
            # again now and then in case it went quietly.
            await asyncio.sleep(1.0)

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)
