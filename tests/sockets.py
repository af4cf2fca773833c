"""A runner's `/runners` socket for tests: a real python-socketio client over WebSocket that
records the `available-jobs` pings it receives."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import socketio

from tests.support import RunningInstance, async_wait_until

__all__ = ["NAMESPACE", "QUIET_S", "RunnerSocket", "runner_socket"]

NAMESPACE = "/runners"
#: The 1 s debounce plus a second of slack: an event still due would have arrived by then.
QUIET_S = 2.0


@dataclass
class RunnerSocket:
    """A connected runner socket and what it has received."""

    client: socketio.AsyncClient
    pings: list[float] = field(default_factory=list)
    #: `job-revoked` payloads (Offload's push to the runner holding a job).
    revoked: list[dict[str, Any]] = field(default_factory=list)

    async def wait_for_revocation(self, job_uuid: str) -> dict[str, Any]:
        await async_wait_until(
            lambda: any(r.get("jobUUID") == job_uuid for r in self.revoked),
            timeout_s=10,
            message=f"job-revoked for {job_uuid}",
        )
        return next(r for r in self.revoked if r.get("jobUUID") == job_uuid)

    async def revocations_after_quiet_period(self) -> list[dict[str, Any]]:
        await _quiet_period()
        return list(self.revoked)

    async def wait_for_pings(self, count: int) -> None:
        await async_wait_until(
            lambda: len(self.pings) >= count,
            timeout_s=10,
            message=f"{count} available-jobs event(s)",
        )

    async def pings_after_quiet_period(self) -> int:
        """The number of pings once no event could still be pending (deadline, not a guess)."""
        await _quiet_period()
        return len(self.pings)


async def _quiet_period() -> None:
    """An observation window, not a wait for something: absence can only be shown by watching
    for QUIET_S, by which time any event still due from earlier triggers would have arrived."""
    await asyncio.sleep(QUIET_S)


@contextlib.asynccontextmanager
async def runner_socket(
    instance: RunningInstance, runner_token: str
) -> AsyncIterator[RunnerSocket]:
    client = socketio.AsyncClient(reconnection=False)
    sock = RunnerSocket(client)

    @client.on("available-jobs", namespace=NAMESPACE)
    def _ping(*_: Any) -> None:
        sock.pings.append(time.monotonic())

    @client.on("job-revoked", namespace=NAMESPACE)
    def _revoked(data: Any = None) -> None:
        sock.revoked.append(data if isinstance(data, dict) else {"raw": data})

    await client.connect(
        instance.url,
        namespaces=[NAMESPACE],
        transports=["websocket"],
        auth={"runnerToken": runner_token},
    )
    try:
        yield sock
    finally:
        await client.disconnect()
