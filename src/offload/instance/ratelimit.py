"""PeerTube's per-IP API rate limit: a fixed window counter kept in memory."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """Counts hits per key in fixed windows; `hit` says whether the key is over its limit."""

    def __init__(
        self, max_hits: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_hits = max_hits
        self.window_s = window_s
        self.clock = clock
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str) -> bool:
        """Record one hit; True when this hit is over the limit."""
        now = self.clock()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= self.window_s:
            start, count = now, 0
        count += 1
        self._windows[key] = (start, count)
        if len(self._windows) > 10_000:
            self._forget_old(now)
        return count > self.max_hits

    def _forget_old(self, now: float) -> None:
        for key, (start, _) in list(self._windows.items()):
            if now - start >= self.window_s:
                del self._windows[key]
