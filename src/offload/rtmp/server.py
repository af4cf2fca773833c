"""`RtmpServer`: the listening socket, the registry of live streams, and the `StreamGate` the
embedding instance implements to decide who may publish and play.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from offload.rtmp.relay import DEFAULT_MAX_GOP_BYTES, DEFAULT_MAX_PLAYER_BACKLOG_BYTES, LiveStream
from offload.rtmp.session import RtmpSession

__all__ = ["DEFAULT_APP", "DEFAULT_PORT", "RtmpServer", "StreamGate"]

logger = logging.getLogger(__name__)

DEFAULT_PORT = 1935
DEFAULT_APP = "live"
HANDSHAKE_TIMEOUT_S = 10.0
PLAYER_WRITE_TIMEOUT_S = 30.0
IDLE_TIMEOUT_S = 30.0


class StreamGate(Protocol):
    """What the instance decides. A gate that raises counts as a refusal (and is logged)."""

    async def may_publish(self, app: str, stream_key: str) -> bool:
        """Whether `stream_key` is a live video's key that may be published now."""
        ...

    async def may_play(self, app: str, stream_key: str) -> bool:
        """Whether a player (the runner, a local ffmpeg) may read this live stream."""
        ...

    async def published(self, app: str, stream_key: str) -> None:
        """A publish session started (called once per session)."""
        ...

    async def unpublished(self, app: str, stream_key: str) -> None:
        """That session ended, cleanly or not (called once per `published`)."""
        ...


class RtmpServer:
    """An RTMP ingest and relay endpoint serving `rtmp://host:port/<app>/<streamKey>`.

    Args:
        gate: the instance's decisions and notifications.
        host, port: where to listen; port 0 picks a free port (read `port` after `start`).
        app: the one application name served; other apps are refused at `connect`.
        handshake_timeout_s: time a new connection has to complete the handshake.
        idle_timeout_s: a publisher (or a connection not yet playing) silent this long is
            closed, so a streamer whose host vanished without a FIN still ends its session.
        player_write_timeout_s: a player that takes no bytes for this long is cut off.
        max_gop_bytes: cap of the cached group of pictures per stream.
        max_player_backlog_bytes: how far a player may fall behind before it is dropped.
        player_send_buffer_bytes: SO_SNDBUF for players' sockets. None leaves the kernel's
            auto-tuning (Linux grows it to 4 MiB, bytes a stalled player holds beyond the
            backlog); a fixed size bounds that, but also caps throughput on long links.
    """

    def __init__(
        self,
        gate: StreamGate,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        app: str = DEFAULT_APP,
        handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        player_write_timeout_s: float = PLAYER_WRITE_TIMEOUT_S,
        max_gop_bytes: int = DEFAULT_MAX_GOP_BYTES,
        max_player_backlog_bytes: int = DEFAULT_MAX_PLAYER_BACKLOG_BYTES,
        player_send_buffer_bytes: int | None = None,
    ) -> None:
        self.gate = gate
        self.host = host
        self._requested_port = port
        self.app = app
        self.handshake_timeout_s = handshake_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.player_write_timeout_s = player_write_timeout_s
        self._max_gop_bytes = max_gop_bytes
        self._max_player_backlog_bytes = max_player_backlog_bytes
        self.player_send_buffer_bytes = player_send_buffer_bytes
        self._streams: dict[tuple[str, str], LiveStream] = {}
        self._sessions: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.port = port

    async def start(self) -> None:
        """Listen. `port` then holds the bound port."""
        self._server = await asyncio.start_server(self._serve, self.host, self._requested_port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and end every connection (publishers get `unpublished`)."""
        if self._server is not None:
            self._server.close()
        for task in list(self._sessions):
            task.cancel()
        for task in list(self._sessions):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> RtmpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def live_stream(self, app: str, stream_key: str) -> LiveStream | None:
        """The stream being published under that key, if any."""
        return self._streams.get((app, stream_key))

    @property
    def live_keys(self) -> list[str]:
        """Stream keys being published now."""
        return [key for _, key in self._streams]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            await RtmpSession(self, reader, writer).run()
        except Exception:  # one broken connection must never take the server down
            logger.exception("rtmp session failed")
        finally:
            self._sessions.discard(task)

    # The session's side of the registry.

    async def gate_allows(self, decision: str, app: str, stream_key: str) -> bool:
        try:
            allowed = await getattr(self.gate, decision)(app, stream_key)
        except Exception:
            logger.exception("stream gate %s failed for %s/%s", decision, app, stream_key)
            return False
        return bool(allowed)

    def claim(self, app: str, stream_key: str) -> LiveStream | None:
        """Register a publisher's stream, or None if that key is already live. Synchronous,
        so two publishers racing for one key cannot both win."""
        if (app, stream_key) in self._streams:
            return None
        live = LiveStream(
            app,
            stream_key,
            max_gop_bytes=self._max_gop_bytes,
            max_player_backlog_bytes=self._max_player_backlog_bytes,
        )
        self._streams[(app, stream_key)] = live
        return live

    async def notify_published(self, live: LiveStream) -> None:
        await self._notify("published", live)

    async def release(self, live: LiveStream) -> None:
        """The publisher is gone: players end, the key is free again, the gate is told."""
        if self._streams.get((live.app, live.stream_key)) is live:
            del self._streams[(live.app, live.stream_key)]
        live.end()
        await self._notify("unpublished", live)

    async def _notify(self, event: str, live: LiveStream) -> None:
        try:
            await getattr(self.gate, event)(live.app, live.stream_key)
        except Exception:
            logger.exception("stream gate %s failed for %s/%s", event, live.app, live.stream_key)
