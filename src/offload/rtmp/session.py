"""One RTMP connection: the handshake, then the NetConnection and NetStream commands of a
publisher (ffmpeg, OBS) or a player (ffmpeg, the runner), and the media that follows.

The command flow answered here, as ffmpeg and OBS drive it:

    publisher: connect → releaseStream, FCPublish, createStream → publish → @setDataFrame,
               audio/video... → FCUnpublish, deleteStream (or the socket just closes)
    player:    connect → createStream (getStreamLength, FCSubscribe) → play → media... ←
               Play.UnpublishNotify + StreamEOF when the publisher goes

A refused request (wrong app, key refused by the gate, key already live, key not live) gets an
`error`-level status, which ffmpeg and OBS treat as fatal, and the connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from typing import TYPE_CHECKING, Any

from offload.rtmp.amf import AmfError, EcmaArray, decode_all, encode_values
from offload.rtmp.chunks import ChunkReader, ChunkStreamError, encode_message
from offload.rtmp.handshake import HandshakeError, accept_handshake
from offload.rtmp.messages import (
    USER_PING_REQUEST,
    MessageType,
    RtmpMessage,
    acknowledgement,
    command,
    ping_response,
    set_chunk_size,
    set_peer_bandwidth,
    split_aggregate,
    status,
    stream_begin,
    stream_eof,
    window_ack_size,
)
from offload.rtmp.relay import LiveStream, Subscription

if TYPE_CHECKING:
    from offload.rtmp.server import RtmpServer

__all__ = ["RtmpSession"]

logger = logging.getLogger(__name__)

OUT_CHUNK_SIZE = 4096
WINDOW_ACK_SIZE = 2_500_000
CLOSE_TIMEOUT_S = 5.0
MEDIA_STREAM_ID = 1  # one NetStream per connection is all publishers and players use

# Chunk stream ids for what we send, the split nginx-rtmp and ffmpeg use.
CSID_CONTROL = 2
CSID_COMMAND = 3
CSID_DATA = 5
CSID_AUDIO = 6
CSID_VIDEO = 7


class _Refused(Exception):
    """A request was refused; the status has been sent, the connection must close."""


def _stream_key(name: Any) -> str:
    """`KEY?token=...` and `KEY` both name KEY (OBS and some tools append a query)."""
    return str(name or "").partition("?")[0].strip("/")


class RtmpSession:
    """Serves one connection until the peer leaves, is refused, or the server stops."""

    def __init__(
        self, server: RtmpServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._server = server
        self._reader = reader
        self._writer = writer
        self._chunks = ChunkReader(reader)
        self._out_chunk_size = 128
        self._peer_window = 0
        self._acknowledged = 0
        self.app: str | None = None
        self._publishing: LiveStream | None = None
        self._playing: tuple[LiveStream, Subscription] | None = None
        self._pump: asyncio.Task[None] | None = None

    async def run(self) -> None:
        try:
            await asyncio.wait_for(
                accept_handshake(self._reader, self._writer), self._server.handshake_timeout_s
            )
            while True:
                # A player may stay silent for long (it acks every 2.5 MB); anyone else that
                # sends nothing for a while is gone without a FIN (host died, link cut).
                idle_s = None if self._playing else self._server.idle_timeout_s
                async with asyncio.timeout(idle_s):
                    message = await self._chunks.read_message()
                await self._handle(message)
                self._acknowledge()
        except (
            HandshakeError,
            ChunkStreamError,
            AmfError,
            TimeoutError,
            asyncio.IncompleteReadError,
            ConnectionError,
        ) as exc:
            logger.debug("rtmp connection closed: %s", exc)
        except _Refused:
            pass
        finally:
            await self._close()

    async def _close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        if self._playing is not None:
            live, subscription = self._playing
            live.unsubscribe(subscription)
            self._playing = None
        await self._end_publishing()
        self._writer.close()
        try:
            # close() flushes first; a peer that never reads would hold us here for ever.
            await asyncio.wait_for(self._writer.wait_closed(), CLOSE_TIMEOUT_S)
        except TimeoutError:
            self._writer.transport.abort()
        except Exception:
            pass  # the connection is gone either way

    def _send(self, message: RtmpMessage, csid: int) -> None:
        self._writer.write(encode_message(message, csid, self._out_chunk_size))

    def _acknowledge(self) -> None:
        if self._peer_window and self._chunks.bytes_read - self._acknowledged >= self._peer_window:
            self._acknowledged = self._chunks.bytes_read
            self._send(acknowledgement(self._chunks.bytes_read), CSID_CONTROL)

    async def _handle(self, message: RtmpMessage) -> None:
        kind = message.type_id
        if kind in (MessageType.AUDIO, MessageType.VIDEO):
            if self._publishing is not None:
                self._publishing.push(_on_media_stream(message))
        elif kind == MessageType.AGGREGATE:
            if self._publishing is not None:
                for part in split_aggregate(message, MEDIA_STREAM_ID):
                    self._publishing.push(part)
        elif kind in (MessageType.COMMAND_AMF0, MessageType.COMMAND_AMF3):
            body = message.body[1:] if kind == MessageType.COMMAND_AMF3 else message.body
            values = decode_all(body)
            if values and isinstance(values[0], str):
                await self._command(values[0], values[1] if len(values) > 1 else 0, values[2:])
        elif kind in (MessageType.DATA_AMF0, MessageType.DATA_AMF3):
            body = message.body[1:] if kind == MessageType.DATA_AMF3 else message.body
            self._data(decode_all(body))
        elif kind == MessageType.WINDOW_ACK_SIZE and len(message.body) >= 4:
            self._peer_window = struct.unpack(">I", message.body[:4])[0]
        elif kind == MessageType.USER_CONTROL and len(message.body) >= 6:
            if struct.unpack(">H", message.body[:2])[0] == USER_PING_REQUEST:
                self._send(ping_response(message.body), CSID_CONTROL)
        # Acknowledgements, other user control (ping responses, buffer length), peer bandwidth and
        # the chunk-size/abort messages ChunkReader already applied need nothing from us.

    async def _command(self, name: str, transaction_id: Any, args: list[Any]) -> None:
        txid = transaction_id if isinstance(transaction_id, (int, float)) else 0
        if name == "connect":
            self._connect(txid, args[0] if args and isinstance(args[0], dict) else {})
        elif name == "createStream":
            self._send(command(0, "_result", txid, None, MEDIA_STREAM_ID), CSID_COMMAND)
        elif name == "publish":
            await self._publish(args[1] if len(args) > 1 else "")
        elif name == "play":
            await self._play(args[1] if len(args) > 1 else "")
        elif name in ("FCUnpublish", "deleteStream", "closeStream"):
            if self._publishing is not None:
                await self._end_publishing()
            elif name != "FCUnpublish" and self._playing is not None:
                raise _Refused  # the player is done: close like nginx-rtmp does
        # releaseStream, FCPublish, FCSubscribe, getStreamLength, receiveAudio/Video, pause,
        # _checkbw: nothing waits on an answer, and nothing here depends on them.

    def _connect(self, txid: float, properties: dict[str, Any]) -> None:
        app = str(properties.get("app") or "").partition("?")[0].strip("/")
        if app != self._server.app:
            info = {
                "level": "error",
                "code": "NetConnection.Connect.Rejected",
                "description": f"unknown application {app!r}",
            }
            self._send(command(0, "_error", txid, None, info), CSID_COMMAND)
            raise _Refused
        self.app = app
        self._send(window_ack_size(WINDOW_ACK_SIZE), CSID_CONTROL)
        self._send(set_peer_bandwidth(WINDOW_ACK_SIZE), CSID_CONTROL)
        self._send(set_chunk_size(OUT_CHUNK_SIZE), CSID_CONTROL)
        self._out_chunk_size = OUT_CHUNK_SIZE
        server_info = {"fmsVer": "FMS/3,0,1,123", "capabilities": 31}
        success: dict[str, Any] = {
            "level": "status",
            "code": "NetConnection.Connect.Success",
            "description": "Connection succeeded.",
            "objectEncoding": properties.get("objectEncoding", 0) or 0,
        }
        self._send(command(0, "_result", txid, server_info, success), CSID_COMMAND)

    async def _refuse(self, code: str, description: str) -> None:
        self._send(status(MEDIA_STREAM_ID, "error", code, description), CSID_COMMAND)
        with contextlib.suppress(ConnectionError):
            await self._writer.drain()
        raise _Refused

    async def _publish(self, name: Any) -> None:
        key = _stream_key(name)
        if self.app is None or self._publishing is not None or self._playing is not None:
            await self._refuse("NetStream.Publish.BadName", "publish out of sequence")
        assert self.app is not None
        if not key or not await self._server.gate_allows("may_publish", self.app, key):
            await self._refuse("NetStream.Publish.BadName", "stream key refused")
        live = self._server.claim(self.app, key)
        if live is None:
            await self._refuse("NetStream.Publish.BadName", "stream key already publishing")
        assert live is not None
        self._publishing = live
        self._send(stream_begin(MEDIA_STREAM_ID), CSID_CONTROL)
        self._send(
            status(
                MEDIA_STREAM_ID, "status", "NetStream.Publish.Start", f"{key} is now published."
            ),
            CSID_COMMAND,
        )
        await self._server.notify_published(live)

    async def _end_publishing(self) -> None:
        live, self._publishing = self._publishing, None
        if live is not None:
            await self._server.release(live)

    def _data(self, values: list[Any]) -> None:
        if self._publishing is None:
            return
        if values and values[0] == "@setDataFrame":
            values = values[1:]
        if len(values) >= 2 and values[0] == "onMetaData" and isinstance(values[1], dict):
            body = encode_values("onMetaData", EcmaArray(values[1]))
            self._publishing.set_metadata(
                RtmpMessage(MessageType.DATA_AMF0, MEDIA_STREAM_ID, 0, body)
            )

    async def _play(self, name: Any) -> None:
        key = _stream_key(name)
        if self.app is None or self._publishing is not None or self._playing is not None:
            await self._refuse("NetStream.Play.Failed", "play out of sequence")
        assert self.app is not None
        live = self._server.live_stream(self.app, key)
        if (
            not key
            or live is None
            or not await self._server.gate_allows("may_play", self.app, key)
            or live.ended
        ):
            await self._refuse("NetStream.Play.StreamNotFound", "no such live stream")
        assert live is not None
        self._send(stream_begin(MEDIA_STREAM_ID), CSID_CONTROL)
        for code in ("NetStream.Play.Reset", "NetStream.Play.Start"):
            self._send(status(MEDIA_STREAM_ID, "status", code, f"Playing {key}."), CSID_COMMAND)
        access = encode_values("|RtmpSampleAccess", True, True)
        self._send(RtmpMessage(MessageType.DATA_AMF0, MEDIA_STREAM_ID, 0, access), CSID_DATA)
        self._limit_send_buffer()
        subscription = live.subscribe()
        subscription.on_drop = self._writer.transport.abort
        self._playing = (live, subscription)
        self._pump = asyncio.create_task(self._pump_media(subscription))

    def _limit_send_buffer(self) -> None:
        size = self._server.player_send_buffer_bytes
        sock = self._writer.transport.get_extra_info("socket")
        if size is not None and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)

    async def _pump_media(self, subscription: Subscription) -> None:
        """Copy the player's queue to its socket; a player that does not take its bytes within
        the write timeout is cut off (the publisher is never held up either way)."""
        timeout_s = self._server.player_write_timeout_s
        try:
            while (message := await subscription.next()) is not None:
                csid = {MessageType.AUDIO: CSID_AUDIO, MessageType.VIDEO: CSID_VIDEO}.get(
                    message.type_id, CSID_DATA
                )
                self._send(message, csid)
                await asyncio.wait_for(self._writer.drain(), timeout_s)
            if not subscription.overflowed:
                self._send(
                    status(MEDIA_STREAM_ID, "status", "NetStream.Play.UnpublishNotify", "Ended."),
                    CSID_COMMAND,
                )
                self._send(stream_eof(MEDIA_STREAM_ID), CSID_CONTROL)
                await asyncio.wait_for(self._writer.drain(), timeout_s)
        except (TimeoutError, ConnectionError):
            pass
        # Ending the connection ends the read loop too, which then tidies up.
        if subscription.overflowed:
            self._writer.transport.abort()
        else:
            self._writer.close()


def _on_media_stream(message: RtmpMessage) -> RtmpMessage:
    return RtmpMessage(message.type_id, MEDIA_STREAM_ID, message.timestamp, message.body)
