"""Which runners an `available-jobs` ping goes to. Pure: values in, values out.

PeerTube pings every connected runner whenever a job appears: with N runners and one job, N
runners ask for it and N - 1 go away empty-handed, each of them a write on a busy database.
Offload pings as many runners as there are jobs on offer, plus a few spares, least recently
pinged first; while jobs stay on offer it pings the next runners a little later, and so on
until every connected runner has had its ping. So a runner that never polls (PeerTube's
runner looks for jobs only when pinged) still hears of every job, a moment later at worst.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set

__all__ = ["wake_wave"]


def wake_wave(
    connected: Iterable[int],
    offered: int,
    *,
    spare: int,
    already: Set[int] = frozenset(),
    last_woken: Mapping[int, float] | None = None,
) -> list[int]:
    """The runners to ping now, among `connected` runner ids not in `already` (pinged since
    the jobs appeared): `offered + spare` of them, those pinged longest ago (or never) first;
    none when nothing is on offer."""
    if offered <= 0:
        return []
    last = last_woken or {}
    waiting = sorted(
        {r for r in connected if r not in already}, key=lambda r: (last.get(r, float("-inf")), r)
    )
    return waiting[: offered + max(0, spare)]
