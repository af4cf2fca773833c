"""Socket.IO namespace `/runners`: authenticated by `auth.runnerToken`; server → runner
`available-jobs` pings (PeerTube's) and `job-revoked {jobUUID, reason}` to the runner that
lost a job (Offload's; the official runner ignores events it does not know).

Pings go to as many runners as there are jobs on offer (plus spares), in waves until every
connected runner has had one while jobs remain (`domain/wake.py`); `wake_all` pings everyone
at once, as PeerTube does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from offload.domain.wake import wake_wave
from offload.instance.runners import RunnerService

__all__ = ["RunnerSockets"]

log = logging.getLogger(__name__)

NAMESPACE = "/runners"


#: Counts the jobs on offer to remote runners now, up to the given limit.
OfferedCount = Callable[[int], Awaitable[int]]


class RunnerSockets:
    def __init__(
        self,
        runners: RunnerService | None = None,
        *,
        spare: int = 2,
        followup_s: float = 2.0,
        wake_all: bool = False,
    ) -> None:
        # Engine.IO pings keep idle runner sockets alive through proxies.
        self.server = socketio.AsyncServer(
            async_mode="asgi", cors_allowed_origins="*", logger=False, engineio_logger=False
        )
        self.runners = runners
        self.connected: dict[str, int] = {}
        #: How many jobs are on offer (the job service's); without it every ping goes to all.
        self.offered: OfferedCount | None = None
        self.spare = spare
        self.followup_s = followup_s
        self.wake_all = wake_all
        #: Runners pinged since jobs last appeared, and when each runner was last pinged.
        self._woken: set[int] = set()
        self._last_woken: dict[int, float] = {}
        self._followup: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: `available-jobs` events sent, one per runner pinged (metrics and tests).
        self.pings_sent = 0
        self.server.on("connect", self._on_connect, namespace=NAMESPACE)
        self.server.on("disconnect", self._on_disconnect, namespace=NAMESPACE)

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("runnerToken") if isinstance(auth, dict) else None
        if token is None:
            raise socketio.exceptions.ConnectionRefusedError("No runner token provided")
        if not isinstance(token, str):
            raise socketio.exceptions.ConnectionRefusedError("Runner token is invalid")
        runner = await self.runners.find(token) if self.runners else None
        if runner is None:
            raise socketio.exceptions.ConnectionRefusedError("Invalid runner token.")
        self.connected[sid] = runner.id
        log.debug("runner %s connected (sid %s)", runner.name, sid)

    async def _on_disconnect(self, sid: str, *args: Any) -> None:
        runner_id = self.connected.pop(sid, None)
        if runner_id is not None and runner_id not in self.connected.values():
            self._last_woken.pop(runner_id, None)

    async def broadcast_available_jobs(self) -> None:
        """New jobs are on offer: ping the first wave (every runner with `wake_all`)."""
        self._cancel_followup()
        self._woken = set()
        await self._wave()

    async def _wave(self) -> None:
        runner_ids = set(self.connected.values())
        if not runner_ids:
            return
        if self.wake_all or self.offered is None:
            self.pings_sent += len(runner_ids)
            await self.server.emit("available-jobs", namespace=NAMESPACE)
            return
        offered = await self.offered(len(runner_ids) + 1)
        chosen = wake_wave(
            runner_ids,
            offered,
            spare=self.spare,
            already=self._woken,
            last_woken=self._last_woken,
        )
        if not chosen:
            return
        now = time.monotonic()
        for runner_id in chosen:
            self._woken.add(runner_id)
            self._last_woken[runner_id] = now
        sids = [sid for sid, runner_id in list(self.connected.items()) if runner_id in chosen]
        self.pings_sent += len(chosen)
        for sid in sids:
            await self.server.emit("available-jobs", to=sid, namespace=NAMESPACE)
        if runner_ids - self._woken:
            # Some runners have not heard yet: if the jobs are still on offer in a moment
            # (the ones pinged did not take them all), the next ones get their ping.
            self._followup = asyncio.get_running_loop().call_later(
                self.followup_s, self._start_followup
            )

    def _start_followup(self) -> None:
        self._followup = None
        task = asyncio.get_running_loop().create_task(self._run_followup())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_followup(self) -> None:
        try:
            await self._wave()
        except Exception:  # a failed ping must never break anything else
            log.exception("available-jobs follow-up ping failed")

    def _cancel_followup(self) -> None:
        if self._followup is not None:
            self._followup.cancel()
            self._followup = None

    async def close(self) -> None:
        """Stop the follow-up pings (shutdown)."""
        self._cancel_followup()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def revoke_job(self, runner_id: int, job_uuid: str, reason: str) -> None:
        """Tell the sockets of `runner_id` (if connected here) that the job is no longer theirs."""
        for sid, connected_runner in list(self.connected.items()):
            if connected_runner == runner_id:
                await self.server.emit(
                    "job-revoked",
                    {"jobUUID": job_uuid, "reason": reason},
                    to=sid,
                    namespace=NAMESPACE,
                )

    def asgi_app(self, other: Any) -> socketio.ASGIApp:
        return socketio.ASGIApp(self.server, other_asgi_app=other, socketio_path="socket.io")
