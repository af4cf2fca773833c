"""A clock tests hand an instance (`start_instance(now=…)`): moved by hand, and able to say
when a given task asked it the time, which marks a point inside a use case."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["ManualClock"]


class ManualClock:
    """Time stands still until `advance`; `asked_by(task)` waits for that task's next reading."""

    def __init__(self, start: datetime | None = None) -> None:
        # Whole seconds, so times read back from the wire (milliseconds) compare equal.
        self._now = start or datetime.now(UTC).replace(microsecond=0)
        self._lock = threading.Lock()
        self._watched: dict[asyncio.Task[Any], asyncio.Event] = {}

    def __call__(self) -> datetime:
        task = asyncio.current_task() if _in_loop() else None
        event = self._watched.pop(task, None) if task is not None else None
        if event is not None:
            event.set()
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    async def asked_by(self, task: asyncio.Task[Any]) -> None:
        """Return once `task` has read the clock (call it right after creating the task, on
        the same event loop, before the task first runs)."""
        event = asyncio.Event()
        self._watched[task] = event
        await event.wait()


def _in_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
