"""The RTMP layer's pure parts: AMF0, the chunk stream (through a real asyncio StreamReader),
and the relay's caches and slow-player policy."""

from __future__ import annotations

import asyncio

import pytest

from offload.rtmp.amf import AmfError, EcmaArray, decode_all, encode_values
from offload.rtmp.chunks import ChunkReader, ChunkStreamError, encode_message
from offload.rtmp.messages import MessageType, RtmpMessage, set_chunk_size, split_aggregate
from offload.rtmp.relay import LiveStream


def test_amf0_values_round_trip() -> None:
    """Commands and metadata decode to what was encoded, ECMA arrays staying ECMA arrays."""
    values = [
        "connect",
        1.0,
        {"app": "live", "flashVer": "FMLE/3.0", "nested": {"a": [1.0, True, None]}},
        EcmaArray({"width": 320.0, "height": 240.0}),
        "é" * 70000,  # a long string
        False,
    ]
    decoded = decode_all(encode_values(*values))
    assert values == decoded
    assert isinstance(decoded[3], EcmaArray)


@pytest.mark.parametrize(
    "data",
    [b"\x02\x00\x10ab", b"\x00\x01", b"\x0a\xff\xff\xff\xff", b"\x11", b"\x03" * 200],
)
def test_amf0_garbage_raises_amf_error(data: bytes) -> None:
    """Truncated strings/numbers, absurd array counts, AMF3, deep nesting: AmfError only."""
    with pytest.raises(AmfError):
        decode_all(data)


async def read_back(data: bytes, count: int) -> list[RtmpMessage]:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    chunks = ChunkReader(reader)
    return [await chunks.read_message() for _ in range(count)]


async def test_chunks_round_trip_across_chunk_sizes_and_extended_timestamps() -> None:
    """Messages larger than the chunk size, a chunk-size change mid-stream, and timestamps
    past 0xFFFFFF (extended, repeated on type-3 chunks) come back intact."""
    big = RtmpMessage(MessageType.VIDEO, 1, 0x1234567, bytes(range(256)) * 40)
    small = RtmpMessage(MessageType.AUDIO, 1, 42, b"\xaf\x01" + b"x" * 300)
    data = (
        encode_message(big, 7, 128)
        + encode_message(set_chunk_size(1000), 2, 128)
        + encode_message(small, 6, 1000)
        + encode_message(big, 7, 1000)
    )
    messages = await read_back(data, 4)
    assert [big, set_chunk_size(1000), small, big] == messages


async def test_type_1_2_3_headers_carry_deltas() -> None:
    """A type-0 message then type-1, type-2 and type-3 headers: timestamps add up the deltas."""
    first = encode_message(RtmpMessage(MessageType.AUDIO, 1, 1000, b"ab"), 4, 128)
    type1 = bytes([0x44]) + (23).to_bytes(3, "big") + (3).to_bytes(3, "big") + b"\x08" + b"abc"
    type2 = bytes([0x84]) + (10).to_bytes(3, "big") + b"xyz"
    type3 = bytes([0xC4]) + b"123"
    messages = await read_back(first + type1 + type2 + type3, 4)
    assert [1000, 1023, 1033, 1043] == [m.timestamp for m in messages]
    assert [b"ab", b"abc", b"xyz", b"123"] == [m.body for m in messages]


async def test_a_chunk_stream_opening_without_a_full_header_is_refused() -> None:
    with pytest.raises(ChunkStreamError):
        await read_back(bytes([0x45]) + bytes(20), 1)


def video(timestamp: int, *, key: bool, size: int = 100) -> RtmpMessage:
    frame = 0x17 if key else 0x27
    return RtmpMessage(MessageType.VIDEO, 1, timestamp, bytes([frame, 1]) + bytes(size))


AVC_HEADER = RtmpMessage(MessageType.VIDEO, 1, 0, b"\x17\x00" + bytes(30))
AAC_HEADER = RtmpMessage(MessageType.AUDIO, 1, 0, b"\xaf\x00\x12\x10")


async def test_a_late_subscriber_gets_headers_then_the_gop_from_its_keyframe() -> None:
    live = LiveStream("live", "k")
    live.push(AVC_HEADER)
    live.push(AAC_HEADER)
    for ts in range(0, 100, 10):
        live.push(video(ts, key=ts in (0, 50)))
    subscription = live.subscribe()
    live.end()
    received = []
    while (message := await subscription.next()) is not None:
        received.append(message)
    assert [AVC_HEADER.body, AAC_HEADER.body] == [m.body for m in received[:2]]
    assert [50, 60, 70, 80, 90] == [m.timestamp for m in received[2:]]


async def test_a_subscriber_joining_before_any_keyframe_waits_for_one() -> None:
    live = LiveStream("live", "k")
    live.push(AVC_HEADER)
    live.push(video(0, key=False))  # the encoder's keyframe was lost: no GOP yet
    subscription = live.subscribe()
    live.push(video(10, key=False))
    live.push(video(20, key=True))
    live.end()
    received = []
    while (message := await subscription.next()) is not None:
        received.append(message.timestamp)
    assert [0, 20] == received  # the header (re-timed), then the keyframe


async def test_a_player_that_falls_behind_is_dropped_and_its_queue_freed() -> None:
    """Past the byte cap the subscription is closed and emptied, the drop callback fires,
    and the publisher's later pushes cost that player nothing."""
    live = LiveStream("live", "k", max_player_backlog_bytes=1000)
    live.push(video(0, key=True))
    subscription = live.subscribe()
    dropped: list[bool] = []
    subscription.on_drop = lambda: dropped.append(True)
    for ts in range(10, 200, 10):
        live.push(video(ts, key=False))
    assert [True] == dropped
    assert subscription.overflowed
    assert 0 == subscription.backlog_bytes
    assert 0 == live.player_count
    assert 1 == live.dropped_players
    assert await subscription.next() is None


def test_the_gop_cache_is_bounded() -> None:
    live = LiveStream("live", "k", max_gop_bytes=500)
    live.push(video(0, key=True))
    for ts in range(10, 100, 10):
        live.push(video(ts, key=False))
    subscription = live.subscribe()
    assert 0 == subscription.backlog_bytes  # emptied past the cap, waiting for a keyframe


async def test_type_3_chunks_without_the_repeated_extended_timestamp_are_read_too() -> None:
    """Some encoders leave the extended timestamp off continuation chunks: payload bytes that
    do not repeat it are kept as payload."""
    message = RtmpMessage(MessageType.VIDEO, 1, 0x1000000, b"\x27\x01" + bytes(range(200)))
    with_repeat = encode_message(message, 7, 128)
    repeat = (0x1000000).to_bytes(4, "big")
    first_chunk_end = 1 + 11 + 4 + 128
    without = with_repeat[: first_chunk_end + 1] + with_repeat[first_chunk_end + 1 + 4 :]
    assert with_repeat[first_chunk_end + 1 : first_chunk_end + 5] == repeat
    assert [message, message] == await read_back(with_repeat + without, 2)


def test_an_ecma_array_without_its_end_marker_is_accepted() -> None:
    data = encode_values("onMetaData", EcmaArray({"width": 320.0}))[:-3]
    assert ["onMetaData", {"width": 320.0}] == decode_all(data)


def test_an_aggregate_message_splits_into_its_media_messages() -> None:
    """FLV tags in an aggregate come out as messages re-timed from the aggregate's clock."""

    def tag(type_id: int, ts: int, body: bytes) -> bytes:
        header = bytes([type_id]) + len(body).to_bytes(3, "big") + ts.to_bytes(3, "big")
        return header + b"\x00" + b"\x00\x00\x00" + body + (11 + len(body)).to_bytes(4, "big")

    body = tag(MessageType.VIDEO, 500, b"\x17\x01vid") + tag(MessageType.AUDIO, 520, b"\xaf\x01a")
    parts = split_aggregate(RtmpMessage(MessageType.AGGREGATE, 1, 1000, body), 1)
    assert [(MessageType.VIDEO, 1000, b"\x17\x01vid"), (MessageType.AUDIO, 1020, b"\xaf\x01a")] == [
        (m.type_id, m.timestamp, m.body) for m in parts
    ]
