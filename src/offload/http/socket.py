"""Socket.IO namespace `/runners`: authenticated by `auth.runnerToken`; server → runner
`available-jobs` pings (PeerTube's) and `job-revoked {jobUUID, reason}` to the runner that
lost a job (Offload's; the official runner ignores events it does not know)."""

from __future__ import annotations

import logging
from typing import Any

import socketio

from offload.instance.runners import RunnerService

__all__ = ["RunnerSockets"]

log = logging.getLogger(__name__)

NAMESPACE = "/runners"


class RunnerSockets:
    def __init__(self, runners: RunnerService | None = None) -> None:
        # Engine.IO pings keep idle runner sockets alive through proxies.
        self.server = socketio.AsyncServer(
            async_mode="asgi", cors_allowed_origins="*", logger=False, engineio_logger=False
        )
        self.runners = runners
        self.connected: dict[str, int] = {}
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
        self.connected.pop(sid, None)

    async def broadcast_available_jobs(self) -> None:
        await self.server.emit("available-jobs", namespace=NAMESPACE)

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
