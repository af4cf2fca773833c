"""One registered instance as the daemon sees it: its HTTP client and its Socket.IO link."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import socketio
import socketio.exceptions

from offload.runner.client import InstanceClient
from offload.runner.config import RegisteredInstance
from offload.runner.errors import UnknownRunnerTokenError

__all__ = ["InstanceLink"]

log = logging.getLogger(__name__)

NAMESPACE = "/runners"
REJECTED_RETRY_S = 60.0  # how long to leave an instance alone after unknown_runner_token
_SOCKET_RETRY_MAX_S = 30.0


class InstanceLink:
    """Wakes the daemon when the instance pings `available-jobs` (or on every (re)connect)."""

    def __init__(
        self,
        registration: RegisteredInstance,
        wake: Callable[[], None],
        revoked: Callable[[InstanceLink, str, str], None] = lambda _link, _job, _reason: None,
    ) -> None:
        self.registration = registration
        self.client = InstanceClient(registration.url)
        self._wake = wake
        self._revoked = revoked
        self._task: asyncio.Task[None] | None = None
        self._rejected_at: float | None = None
        self.socket_connected = False
        #: Whether the instance has Offload's `jobs/claim` (None: not asked yet).
        self.claims: bool | None = None
        self._closing = False
        # socket.io reconnects by itself once connected: 1 s growing to 5 s, like the official
        # runner. Our signal handlers, not socket.io's, decide what Ctrl-C does.
        self.sio = socketio.AsyncClient(
            reconnection=True, reconnection_delay=1, reconnection_delay_max=5, handle_sigint=False
        )
        self.sio.on("connect", self._on_connect, namespace=NAMESPACE)
        self.sio.on("disconnect", self._on_disconnect, namespace=NAMESPACE)
        self.sio.on("available-jobs", self._on_available_jobs, namespace=NAMESPACE)
        # Offload instances push this when they take a job back; PeerTube never sends it.
        self.sio.on("job-revoked", self._on_job_revoked, namespace=NAMESPACE)

    @property
    def key(self) -> tuple[str, str]:
        return (self.registration.url.rstrip("/"), self.registration.runner_name)

    @property
    def usable(self) -> bool:
        """False for a while after the instance refused our token."""
        return self._rejected_at is None or time.monotonic() - self._rejected_at >= REJECTED_RETRY_S

    @property
    def rejected(self) -> bool:
        return self._rejected_at is not None

    def reject(self, exc: UnknownRunnerTokenError) -> None:
        """Log the refusal loudly, keep the registration (a transient instance fault must not
        make us forget a token), and retry later."""
        self._rejected_at = time.monotonic()
        url, name = self.key
        log.error(
            "!!! %s does not know the runner token of %r (%s). The registration is KEPT in the config; "
            "if this runner was deleted on the instance, run `offload runner unregister --url %s --runner-name %s` "
            "and register again. Retrying in %.0f s.",
            url,
            name,
            exc.code or exc.status,
            url,
            name,
            REJECTED_RETRY_S,
        )

    def accepted(self) -> None:
        """The instance answered normally again."""
        if self._rejected_at is not None:
            log.warning("%s accepts the runner token of %r again", *self.key)
        self._rejected_at = None

    def start(self) -> None:
        self._task = asyncio.create_task(
            self._connect_forever(), name=f"socket {self.registration.url}"
        )

    async def stop(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.sio.disconnect(), timeout=5)
        await self.client.aclose()

    async def _connect_forever(self) -> None:
        delay_s = 1.0
        while True:
            try:
                await self.sio.connect(
                    self.registration.url.rstrip("/"),
                    auth={"runnerToken": self.registration.runner_token},
                    transports=["websocket"],
                    namespaces=[NAMESPACE],
                    socketio_path="socket.io",
                    wait_timeout=10,
                )
                return
            except socketio.exceptions.ConnectionError as exc:
                log.warning(
                    "socket to %s failed (%s); retrying in %.0f s (jobs are still polled)",
                    self.registration.url,
                    exc,
                    delay_s,
                )
            await asyncio.sleep(delay_s)
            delay_s = min(_SOCKET_RETRY_MAX_S, delay_s * 2)

    async def _on_connect(self) -> None:
        self.socket_connected = True
        log.info("connected to %s as %r", *self.key)
        self._wake()

    async def _on_disconnect(self, *args: object) -> None:
        self.socket_connected = False
        if self._closing:
            return
        log.warning(
            "socket to %s lost; socket.io reconnects, polling continues", self.registration.url
        )

    async def _on_available_jobs(self, *args: object) -> None:
        self._wake()

    async def _on_job_revoked(self, data: object = None) -> None:
        if isinstance(data, dict) and isinstance(data.get("jobUUID"), str):
            self._revoked(self, data["jobUUID"], str(data.get("reason", "")))
