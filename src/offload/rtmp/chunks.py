"""The RTMP chunk stream: messages cut into chunks on chunk streams (RTMP specification §5.3).

`ChunkReader` reassembles the peer's messages: basic headers of 1–3 bytes, message headers of
type 0 (absolute), 1 (delta, length, type), 2 (delta only) and 3 (none), the extended timestamp
(which ffmpeg and librtmp repeat on type-3 chunks after a header that needed it, and some
encoders do not: as SRS does, the 4 bytes count as the repeat only if they equal the header's),
`Set Chunk Size` and `Abort`. Limits keep a hostile peer from making us buffer without bound.

`encode_message` writes ours: a type-0 header on the first chunk, type-3 on the rest. Always
absolute timestamps cost 7–11 bytes a message and spare every player from tracking deltas we
might get wrong after joining mid-stream.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

from offload.rtmp.messages import MessageType, RtmpMessage

__all__ = ["DEFAULT_CHUNK_SIZE", "ChunkReader", "ChunkStreamError", "encode_message"]

DEFAULT_CHUNK_SIZE = 128
MAX_CHUNK_SIZE = 0xFFFFFF  # 16 MiB: above anything real, the message length is 24-bit anyway
MAX_CHUNK_STREAMS = 32  # chunk streams a peer may open on one connection
MAX_MESSAGE_SIZE = 8 * 1024 * 1024  # a 4K keyframe is a few MiB
EXTENDED = 0xFFFFFF


class ChunkStreamError(ConnectionError):
    """The peer's chunk stream broke the protocol (unknown first header, bad chunk size...)."""


@dataclass
class _ChunkStreamState:
    timestamp: int = 0
    delta: int = 0
    length: int = 0
    type_id: int = 0
    stream_id: int = 0
    extended: bool = False
    extended_field: bytes = b""
    payload: bytearray | None = None
    seen_header: bool = False


class ChunkReader:
    """Reads whole messages off an asyncio stream, tracking the peer's chunk size."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._streams: dict[int, _ChunkStreamState] = {}
        self._pushed_back = b""
        self.chunk_size = DEFAULT_CHUNK_SIZE
        #: Bytes read from the peer so far (for acknowledgements).
        self.bytes_read = 0

    async def _read(self, size: int) -> bytes:
        if self._pushed_back:
            data, self._pushed_back = self._pushed_back[:size], self._pushed_back[size:]
            if len(data) < size:
                data += await self._reader.readexactly(size - len(data))
        else:
            data = await self._reader.readexactly(size)
        self.bytes_read += size
        return data

    async def read_message(self) -> RtmpMessage:
        """The next complete message. Chunk-size and abort messages are applied here and also
        returned (the session ignores them)."""
        while True:
            message = await self._read_chunk()
            if message is None:
                continue
            if message.type_id == MessageType.SET_CHUNK_SIZE:
                if len(message.body) < 4:
                    raise ChunkStreamError("short Set Chunk Size")
                size = struct.unpack(">I", message.body[:4])[0] & 0x7FFFFFFF
                if not 1 <= size <= MAX_CHUNK_SIZE:
                    raise ChunkStreamError(f"chunk size {size} out of range")
                self.chunk_size = size
            elif message.type_id == MessageType.ABORT and len(message.body) >= 4:
                aborted = self._streams.get(struct.unpack(">I", message.body[:4])[0])
                if aborted is not None:
                    aborted.payload = None
            return message

    async def _read_chunk(self) -> RtmpMessage | None:
        first = (await self._read(1))[0]
        fmt = first >> 6
        csid = first & 0x3F
        if csid == 0:
            csid = 64 + (await self._read(1))[0]
        elif csid == 1:
            low, high = await self._read(2)
            csid = 64 + low + high * 256
        state = self._streams.get(csid)
        if state is None:
            if len(self._streams) >= MAX_CHUNK_STREAMS:
                raise ChunkStreamError("too many chunk streams")
            state = self._streams[csid] = _ChunkStreamState()
        if fmt != 0 and not state.seen_header:
            raise ChunkStreamError(f"chunk stream {csid} starts with a type-{fmt} header")

        starts_message = state.payload is None
        if fmt == 0:
            header = await self._read(11)
            field = int.from_bytes(header[0:3], "big")
            state.length = int.from_bytes(header[3:6], "big")
            state.type_id = header[6]
            state.stream_id = struct.unpack("<I", header[7:11])[0]
            state.extended = field == EXTENDED
            if state.extended:
                state.extended_field = await self._read(4)
                field = struct.unpack(">I", state.extended_field)[0]
            state.timestamp = field
            state.delta = field
            state.seen_header = True
        elif fmt in (1, 2):
            header = await self._read(7 if fmt == 1 else 3)
            field = int.from_bytes(header[0:3], "big")
            if fmt == 1:
                state.length = int.from_bytes(header[3:6], "big")
                state.type_id = header[6]
            state.extended = field == EXTENDED
            if state.extended:
                state.extended_field = await self._read(4)
                field = struct.unpack(">I", state.extended_field)[0]
            state.delta = field
            state.timestamp = (state.timestamp + field) & 0xFFFFFFFF
        else:
            if state.extended:
                repeated = await self._reader.readexactly(4)
                if repeated == state.extended_field:
                    self.bytes_read += 4
                else:  # not a repeat: the peer sent payload right away, give it back
                    self._pushed_back = repeated
            if starts_message:
                state.timestamp = (state.timestamp + state.delta) & 0xFFFFFFFF
        if fmt != 3 and not starts_message:
            # A new header in the middle of a message: the rest of the old one is lost.
            starts_message = True
        if starts_message:
            if state.length > MAX_MESSAGE_SIZE:
                raise ChunkStreamError(f"message of {state.length} bytes is over the limit")
            state.payload = bytearray()

        assert state.payload is not None
        remaining = state.length - len(state.payload)
        if remaining > 0:
            state.payload += await self._read(min(remaining, self.chunk_size))
        if len(state.payload) < state.length:
            return None
        body = bytes(state.payload)
        state.payload = None
        return RtmpMessage(state.type_id, state.stream_id, state.timestamp, body)


def _basic_header(fmt: int, csid: int) -> bytes:
    if csid < 64:
        return bytes([(fmt << 6) | csid])
    if csid < 320:
        return bytes([fmt << 6, csid - 64])
    rest = csid - 64
    return bytes([(fmt << 6) | 1, rest & 0xFF, rest >> 8])


def encode_message(message: RtmpMessage, csid: int, chunk_size: int) -> bytes:
    """`message` as chunks of at most `chunk_size` body bytes on chunk stream `csid`."""
    timestamp = message.timestamp & 0xFFFFFFFF
    extended = timestamp >= EXTENDED
    field = EXTENDED if extended else timestamp
    header = (
        _basic_header(0, csid)
        + field.to_bytes(3, "big")
        + len(message.body).to_bytes(3, "big")
        + bytes([message.type_id])
        + struct.pack("<I", message.stream_id)
    )
    extended_bytes = struct.pack(">I", timestamp) if extended else b""
    continuation = _basic_header(3, csid) + extended_bytes
    body = message.body
    parts = [header, extended_bytes, body[:chunk_size]]
    for offset in range(chunk_size, len(body), chunk_size):
        parts.append(continuation)
        parts.append(body[offset : offset + chunk_size])
    return b"".join(parts)
