"""Local IPC between the CLI and a running daemon, plus the one-daemon-per-id lock.

Transport: a Unix socket (owner-only permissions); one JSON request line, one JSON answer line,
then the connection closes. Requests mirror the official runner's (`{"type": "register", …}`);
answers are `{"success": bool, "error"?: str, "data"?: …}`.

The lock is an `flock` on a file next to the socket: the kernel drops it when the daemon dies,
even with kill -9, so a stale socket never blocks a restart and a second daemon with the same
`--id` is refused instead of stealing the first one's socket and temp dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

from offload.runner.errors import DaemonAlreadyRunning, DaemonNotRunning

__all__ = ["DaemonLock", "IpcServer", "ipc_request"]

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[Any]]
_MAX_REQUEST_BYTES = 1024 * 1024


class DaemonLock:
    """An exclusive, non-blocking `flock` on `path` holding the daemon's pid."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            pid = handle.read().strip() or "?"
            handle.close()
            raise DaemonAlreadyRunning(
                f"a runner daemon is already running with this id (pid {pid}, lock {self.path})"
            ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


class IpcServer:
    """Serves requests on a Unix socket, calling `handler(request) → data`; an exception
    becomes `{"success": false, "error": str(exc)}`."""

    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self.handler = handler
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        # Only reached with the daemon lock held: a socket file left here is stale.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(
            self._serve, path=str(self.path), limit=_MAX_REQUEST_BYTES
        )
        os.chmod(self.path, 0o600)  # runner tokens pass through here

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=2)
            self._server = None
        self.path.unlink(missing_ok=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=10)
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise TypeError("request must be a JSON object")
                data = await self.handler(request)
                answer: dict[str, Any] = {"success": True, "data": data}
            except Exception as exc:  # every failure goes back to the CLI as text
                log.debug("IPC request failed", exc_info=True)
                answer = {"success": False, "error": str(exc) or type(exc).__name__}
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def ipc_request(path: Path, request: dict[str, Any], timeout_s: float = 60.0) -> Any:
    """Send one request to the daemon at `path` and return its `data`.

    Raises:
        DaemonNotRunning: nothing listens there.
        RuntimeError: the daemon answered with an error.
    """
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(str(path), limit=16 * 1024 * 1024), timeout=5
        )
    except (FileNotFoundError, ConnectionRefusedError, TimeoutError) as exc:
        raise DaemonNotRunning() from exc
    try:
        writer.write(json.dumps(request).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout=timeout_s)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    if not line:
        raise RuntimeError("the runner daemon closed the connection without answering")
    answer = json.loads(line)
    if not answer.get("success"):
        raise RuntimeError(answer.get("error") or "the runner daemon refused the request")
    return answer.get("data")
