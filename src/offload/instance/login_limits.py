"""Failed-login limits per client address and per username, after PeerTube's
`rates_limit.login` (its default.yaml: 15 attempts per 5 minutes per IP)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["LoginLimiter"]

#: Past this many tracked keys, finished windows are dropped.
_TRACKED_KEYS_MAX = 10_000


class LoginLimiter:
    """Fixed windows counting failed logins per key (`ip:…`, `user:…`).

    An attempt is counted when it begins and forgiven when it succeeds, so only failures use
    the budget, yet a burst of concurrent guesses cannot all slip in before the first failure
    is known. A key at its limit refuses every attempt until its window ends; refused attempts
    are not counted, so hammering does not push the end further out.
    """

    def __init__(
        self, max_failures: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self._windows: dict[str, tuple[float, int]] = {}

    def begin(self, keys: tuple[str, ...]) -> int | None:
        """Count one attempt against every key; when a key is at its limit, count nothing and
        return the whole seconds until the attempt may be made again."""
        now = self.clock()
        windows = {key: self._current(key, now) for key in keys}
        blocked = [start for start, count in windows.values() if count >= self.max_failures]
        if blocked:
            return max(1, math.ceil(max(blocked) + self.window_s - now))
        for key, (start, count) in windows.items():
            self._windows[key] = (start, count + 1)
        if len(self._windows) > _TRACKED_KEYS_MAX:
            self._forget_finished(now)
        return None

    def forgive(self, keys: tuple[str, ...]) -> None:
        """Take back the attempt `begin` counted: it succeeded."""
        for key in keys:
            window = self._windows.get(key)
            if window is not None and window[1] > 0:
                self._windows[key] = (window[0], window[1] - 1)

    def _current(self, key: str, now: float) -> tuple[float, int]:
        start, count = self._windows.get(key, (now, 0))
        if now - start >= self.window_s:
            return now, 0
        return start, count

    def _forget_finished(self, now: float) -> None:
        for key, (start, _) in list(self._windows.items()):
            if now - start >= self.window_s:
                del self._windows[key]
