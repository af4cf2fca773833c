"""`available-jobs` pings to connected runners, trailing-debounced like PeerTube's."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

__all__ = ["AvailableJobsNotifier"]

log = logging.getLogger(__name__)


class AvailableJobsNotifier:
    """Collapses every trigger within `debounce_s` into one broadcast at the end of the window.

    `broadcast` is the adapter's send (socket.io emit to all runner sockets); keeping it a
    callable lets a PostgreSQL LISTEN/NOTIFY fan-out replace it for several instance processes.
    """

    def __init__(self, broadcast: Callable[[], Awaitable[None]], debounce_s: float = 1.0) -> None:
        self._broadcast = broadcast
        self._debounce_s = debounce_s
        self._pending: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        #: Number of broadcasts sent, for metrics and tests.
        self.sent = 0

    def ping(self) -> None:
        """Ask for a broadcast at the end of the current window.

        Triggers during a window join it instead of restarting it, so a steady stream of new
        jobs still produces one ping per window rather than none.
        """
        if self._pending is None and not self._closed:
            self._pending = asyncio.get_running_loop().call_later(self._debounce_s, self._fire)

    def ping_in(self, delay_s: float) -> None:
        """`ping` once `delay_s` has passed: when a job backing off comes on offer again.
        After `close` the timer's ping does nothing."""
        asyncio.get_running_loop().call_later(delay_s, self.ping)

    def _fire(self) -> None:
        self._pending = None
        task = asyncio.get_running_loop().create_task(self._send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self) -> None:
        self.sent += 1
        try:
            await self._broadcast()
        except Exception:  # a failed ping must never break a job transition
            log.exception("available-jobs broadcast failed")

    async def close(self) -> None:
        self._closed = True
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        for task in list(self._tasks):
            task.cancel()
