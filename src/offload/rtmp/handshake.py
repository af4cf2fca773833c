"""The RTMP handshake, server side: C0+C1 in, S0+S1+S2 out, C2 in.

We answer with the plain ("simple") handshake: S1 carries zeros where a Flash Media Server puts
its version, which tells ffmpeg, OBS (librtmp) and other clients not to look for the digest of
the Flash "complex" handshake, and S2 echoes C1. Only the unencrypted protocol version 3 is
accepted; anything else is refused before a byte of chunk stream is read.
"""

from __future__ import annotations

import asyncio
import os
import struct
import time

__all__ = ["HANDSHAKE_SIZE", "RTMP_VERSION", "HandshakeError", "accept_handshake"]

RTMP_VERSION = 3
HANDSHAKE_SIZE = 1536


class HandshakeError(ConnectionError):
    """The peer did not open with a valid RTMP version 3 handshake."""


async def accept_handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Run the server half of the handshake.

    Raises:
        HandshakeError: wrong version byte (e.g. garbage, RTMPE, an HTTP request).
        asyncio.IncompleteReadError: the peer closed mid-handshake.
    """
    version = (await reader.readexactly(1))[0]
    if version != RTMP_VERSION:
        raise HandshakeError(f"unsupported RTMP version byte 0x{version:02x}")
    c1 = await reader.readexactly(HANDSHAKE_SIZE)
    uptime_ms = int(time.monotonic() * 1000) & 0xFFFFFFFF
    s1 = struct.pack(">II", uptime_ms, 0) + os.urandom(HANDSHAKE_SIZE - 8)
    writer.write(bytes([RTMP_VERSION]) + s1 + c1)
    await writer.drain()
    await reader.readexactly(HANDSHAKE_SIZE)  # C2: an echo of S1, nothing to act on
