"""The runner's own failure streak, as a pure decision: after several jobs in a row failed
here, it takes no job for a while, so a broken machine (a bad ffmpeg, a full disk) does not
burn through the tries of every job in the queue."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FAILURES_BEFORE_PAUSE", "MAX_PAUSE_S", "FailureStreak"]

#: Consecutive failed jobs before the first pause.
FAILURES_BEFORE_PAUSE = 3
#: The longest pause, however long the streak.
MAX_PAUSE_S = 60.0


@dataclass
class FailureStreak:
    """Failed jobs since the last success, and the pause they call for: `first_pause_s` at
    the `threshold`-th, doubled at each further one, at most `max_pause_s` (0: never pause)."""

    first_pause_s: float
    threshold: int = FAILURES_BEFORE_PAUSE
    max_pause_s: float = MAX_PAUSE_S
    failures: int = 0

    def failed(self) -> float:
        """Count a failed job; returns the pause it calls for (0: keep going)."""
        self.failures += 1
        if self.first_pause_s <= 0 or self.failures < self.threshold:
            return 0.0
        return min(
            self.max_pause_s, self.first_pause_s * 2.0 ** min(self.failures - self.threshold, 64)
        )

    def succeeded(self) -> None:
        """A job completed: the machine works, the streak is over."""
        self.failures = 0
