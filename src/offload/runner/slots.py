"""Capacity decisions, as pure functions: may this runner take one more job of a type?"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from offload.domain.jobs import output_resolution

__all__ = ["can_take", "fits_resolution", "free_slots"]


def free_slots(concurrency: int, running: Counter[str]) -> int:
    """How many more jobs fit under the global limit."""
    return max(0, concurrency - sum(running.values()))


def can_take(
    job_type: str, running: Counter[str], concurrency: int, type_limits: Mapping[str, int]
) -> bool:
    """Whether a job of `job_type` fits: under the global limit, and under its type's own limit
    when one is configured (a type limited to 0 is never taken)."""
    if free_slots(concurrency, running) == 0:
        return False
    limit = type_limits.get(job_type)
    return limit is None or running[job_type] < limit


def fits_resolution(payload: Mapping[str, Any], max_resolution: int | None) -> bool:
    """Whether an offered job's output is within the runner's `maxResolution` (jobs without a
    picture always are). Offload instances filter claims themselves; PeerTube's offers are
    filtered here."""
    resolution = output_resolution(payload)
    return max_resolution is None or resolution is None or resolution <= max_resolution
