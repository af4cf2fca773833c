"""A PostgreSQL connection of this process's own, outside the pool, kept open for as long as
the process runs: for what lives with a session (LISTEN, session-level advisory locks).

When the connection drops (database restart, network), it is opened again with a short
back-off and `on_connect` runs on the new one, so what the session held is taken again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import sqlalchemy as sa

__all__ = ["DedicatedConnection", "asyncpg_dsn"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Back-off between reconnection attempts; short, so the session is back within about a
#: second of the database (processes believe each other's locks only after a grace period
#: longer than this).
RECONNECT_DELAYS_S = (0.1, 0.2, 0.5, 1.0)
#: asyncpg reports a dropped connection through its termination listener, which wakes the
#: supervisor at once; it also looks this often in case the connection went quietly.
CHECK_S = 1.0
CONNECT_TIMEOUT_S = 10.0


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """`postgresql+asyncpg://…` as the plain `postgresql://…` DSN asyncpg itself takes."""
    url = sa.engine.make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class DedicatedConnection:
    """One supervised asyncpg connection; `on_connect` prepares each new one (and may raise to
    have it closed and the connection tried again after the back-off)."""

    def __init__(
        self, dsn: str, on_connect: Callable[[asyncpg.Connection], Awaitable[None]], *, name: str
    ) -> None:
        self._dsn = dsn
        self._on_connect = on_connect
        self.name = name
        self._conn: asyncpg.Connection | None = None
        self._connected_at: float | None = None
        self._use_lock = asyncio.Lock()
        self._supervisor: asyncio.Task[None] | None = None
        self._first_attempt = asyncio.Event()
        self._lost = asyncio.Event()
        self._closing = False

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    @property
    def up_for_s(self) -> float:
        """How long the current connection has been up, 0 while there is none."""
        if not self.connected or self._connected_at is None:
            return 0.0
        return time.monotonic() - self._connected_at

    async def start(self) -> None:
        """Connect from now on; returns once connected, or after the first failure (start-up
        must not wait on a database hiccup)."""
        self._supervisor = asyncio.create_task(self._supervise(), name=self.name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_attempt.wait(), timeout=CONNECT_TIMEOUT_S)

    async def run(self, use: Callable[[asyncpg.Connection], Awaitable[T]]) -> T | None:
        """`use(connection)` one at a time (a connection runs one query at a time); None while
        disconnected. Errors are the caller's."""
        conn = self._conn
        if conn is None or conn.is_closed():
            return None
        async with self._use_lock:
            return await use(conn)

    async def close(self) -> None:
        self._closing = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        await self._drop()

    # ---- internals ----------------------------------------------------------------------

    async def _supervise(self) -> None:
        attempt = 0
        ever_connected = False
        while not self._closing:
            if self.connected:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._lost.wait(), timeout=CHECK_S)
                self._lost.clear()
                continue
            await self._drop()
            try:
                self._conn = await self._connect()
                self._connected_at = time.monotonic()
                if ever_connected:
                    log.info("%s: reconnected", self.name)
                ever_connected = True
                attempt = 0
            except Exception as exc:  # whatever failed, the supervisor must go on trying
                delay = RECONNECT_DELAYS_S[min(attempt, len(RECONNECT_DELAYS_S) - 1)]
                if attempt % 30 == 0:  # the first failure, then about every half minute
                    log.warning(
                        "%s: cannot connect (%s); retrying every %.1f s at most",
                        self.name,
                        exc,
                        RECONNECT_DELAYS_S[-1],
                    )
                attempt += 1
                self._first_attempt.set()
                await asyncio.sleep(delay)
                continue
            self._first_attempt.set()

    async def _connect(self) -> asyncpg.Connection:
        conn = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT_S)
        try:
            await self._on_connect(conn)
        except BaseException:
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)
            raise
        conn.add_termination_listener(self._on_termination)
        return conn

    def _on_termination(self, conn: Any) -> None:
        if self._conn is conn:
            log.warning("%s: connection lost; reconnecting", self.name)
            self._conn = None
            self._lost.set()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._connected_at = None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)
