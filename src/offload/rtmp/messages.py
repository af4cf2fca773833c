"""RTMP messages: the type ids, the value the chunk stream carries, and builders for the
protocol-control, user-control and command messages the server sends.

Media classification lives here too: which video message is a keyframe or a codec sequence
header (the AVC/HEVC decoder configuration, the AAC AudioSpecificConfig), because that is what
the relay's caches are keyed on.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from offload.rtmp.amf import encode_values

__all__ = [
    "MessageType",
    "RtmpMessage",
    "acknowledgement",
    "command",
    "is_audio_sequence_header",
    "is_keyframe",
    "is_video_sequence_header",
    "ping_response",
    "set_chunk_size",
    "set_peer_bandwidth",
    "split_aggregate",
    "status",
    "stream_begin",
    "stream_eof",
    "window_ack_size",
]


class MessageType:
    """RTMP message type ids (RTMP specification §5.4, §7.1)."""

    SET_CHUNK_SIZE = 1
    ABORT = 2
    ACKNOWLEDGEMENT = 3
    USER_CONTROL = 4
    WINDOW_ACK_SIZE = 5
    SET_PEER_BANDWIDTH = 6
    AUDIO = 8
    VIDEO = 9
    DATA_AMF3 = 15
    COMMAND_AMF3 = 17
    DATA_AMF0 = 18
    COMMAND_AMF0 = 20
    AGGREGATE = 22


USER_STREAM_BEGIN = 0
USER_STREAM_EOF = 1
USER_PING_REQUEST = 6
USER_PING_RESPONSE = 7


@dataclass(frozen=True, slots=True)
class RtmpMessage:
    """One whole message: type, message stream id, timestamp (ms, 32-bit wrapping) and body."""

    type_id: int
    stream_id: int
    timestamp: int
    body: bytes


def set_chunk_size(size: int) -> RtmpMessage:
    return RtmpMessage(MessageType.SET_CHUNK_SIZE, 0, 0, struct.pack(">I", size))


def window_ack_size(size: int) -> RtmpMessage:
    return RtmpMessage(MessageType.WINDOW_ACK_SIZE, 0, 0, struct.pack(">I", size))


def set_peer_bandwidth(size: int) -> RtmpMessage:
    # limit type 2 = dynamic, what nginx-rtmp and Flash Media Server send
    return RtmpMessage(MessageType.SET_PEER_BANDWIDTH, 0, 0, struct.pack(">IB", size, 2))


def acknowledgement(received: int) -> RtmpMessage:
    return RtmpMessage(MessageType.ACKNOWLEDGEMENT, 0, 0, struct.pack(">I", received & 0xFFFFFFFF))


def stream_begin(stream_id: int) -> RtmpMessage:
    return RtmpMessage(
        MessageType.USER_CONTROL, 0, 0, struct.pack(">HI", USER_STREAM_BEGIN, stream_id)
    )


def stream_eof(stream_id: int) -> RtmpMessage:
    return RtmpMessage(
        MessageType.USER_CONTROL, 0, 0, struct.pack(">HI", USER_STREAM_EOF, stream_id)
    )


def ping_response(body: bytes) -> RtmpMessage:
    """The answer to a peer's ping request: its timestamp echoed."""
    return RtmpMessage(
        MessageType.USER_CONTROL, 0, 0, struct.pack(">H", USER_PING_RESPONSE) + body[2:6]
    )


def command(stream_id: int, name: str, transaction_id: float, *args: Any) -> RtmpMessage:
    """An AMF0 command message (`_result`, `_error`, `onStatus`...)."""
    return RtmpMessage(
        MessageType.COMMAND_AMF0, stream_id, 0, encode_values(name, transaction_id, *args)
    )


def status(stream_id: int, level: str, code: str, description: str) -> RtmpMessage:
    """A NetStream `onStatus` (level `status` or `error`), which is how a publisher or player
    learns that its request was accepted or refused."""
    info = {"level": level, "code": code, "description": description}
    return command(stream_id, "onStatus", 0, None, info)


def is_keyframe(message: RtmpMessage) -> bool:
    """A video message carrying a keyframe (not the sequence header)."""
    body = message.body
    if message.type_id != MessageType.VIDEO or not body:
        return False
    if (body[0] >> 4) & 0x07 != 1:
        return False
    return not is_video_sequence_header(message)


def is_video_sequence_header(message: RtmpMessage) -> bool:
    """The AVC decoder configuration (classic FLV tag), or an Enhanced RTMP SequenceStart."""
    body = message.body
    if message.type_id != MessageType.VIDEO or len(body) < 2:
        return False
    if body[0] & 0x80:  # Enhanced RTMP: the low nibble is the packet type, 0 = SequenceStart
        return body[0] & 0x0F == 0
    return body[0] & 0x0F in (7, 12) and body[1] == 0  # AVC, or HEVC as Chinese CDNs carry it


def is_audio_sequence_header(message: RtmpMessage) -> bool:
    """The AAC AudioSpecificConfig, or an Enhanced RTMP audio SequenceStart (Opus, FLAC...)."""
    body = message.body
    if message.type_id != MessageType.AUDIO or len(body) < 2:
        return False
    if body[0] >> 4 == 9:  # Enhanced RTMP ExAudioTagHeader: low nibble is the packet type
        return body[0] & 0x0F == 0
    return body[0] >> 4 == 10 and body[1] == 0


def split_aggregate(message: RtmpMessage, stream_id: int) -> list[RtmpMessage]:
    """An aggregate message's FLV-tag sub-messages, re-timed so the first starts at the
    aggregate's own timestamp."""
    parts = []
    body = message.body
    offset = 0
    base: int | None = None
    while offset + 11 <= len(body):
        type_id = body[offset]
        size = int.from_bytes(body[offset + 1 : offset + 4], "big")
        ts = int.from_bytes(body[offset + 4 : offset + 7], "big") | (body[offset + 7] << 24)
        start = offset + 11
        if start + size > len(body):
            break
        base = ts if base is None else base
        if type_id in (MessageType.AUDIO, MessageType.VIDEO):
            timestamp = (message.timestamp + ts - base) & 0xFFFFFFFF
            parts.append(RtmpMessage(type_id, stream_id, timestamp, body[start : start + size]))
        offset = start + size + 4  # the back pointer (previous tag size)
    return parts
