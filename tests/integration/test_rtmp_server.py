"""The embedded RTMP server against the real ffmpeg: publish, play, late join, refusals,
abrupt ends, garbage, and a player that stops reading. No instance: a small in-test gate."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import pytest
from imageio_ffmpeg import get_ffmpeg_exe

from offload.rtmp import RtmpServer
from offload.rtmp.amf import encode_values
from offload.rtmp.chunks import encode_message
from offload.rtmp.messages import MessageType, RtmpMessage
from tests.support import async_wait_until

KEY = "live-key-1"
OTHER_KEY = "live-key-2"
DEADLINE_S = 20.0


@dataclass
class RecordingGate:
    """Allows the keys in `keys`; records what the server tells it."""

    keys: set[str] = field(default_factory=lambda: {KEY, OTHER_KEY})
    events: list[tuple[str, str]] = field(default_factory=list)

    async def may_publish(self, app: str, stream_key: str) -> bool:
        return app == "live" and stream_key in self.keys

    async def may_play(self, app: str, stream_key: str) -> bool:
        return app == "live" and stream_key in self.keys

    async def published(self, app: str, stream_key: str) -> None:
        self.events.append(("published", stream_key))

    async def unpublished(self, app: str, stream_key: str) -> None:
        self.events.append(("unpublished", stream_key))

    def count(self, event: str) -> int:
        return sum(1 for name, _ in self.events if name == event)


def make_live_clip(path: Path, *, noise: bool = False) -> Path:
    """4 s, 320x240 H.264 with a keyframe every second (like a streamer's encoder) + AAC.
    With `noise`, the picture is noisy and the video runs at ~4 Mbit/s instead of ~0.3."""
    picture = "testsrc=size=320x240:rate=25:duration=4" + (",noise=alls=60:allf=t" if noise else "")
    subprocess.run(
        [
            get_ffmpeg_exe(),
            "-nostdin", "-v", "error", "-y",
            "-f", "lavfi", "-i", picture,
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=4",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-g", "25", "-keyint_min", "25", "-sc_threshold", "0",
            "-c:a", "aac", "-shortest", str(path),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def live_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_live_clip(tmp_path_factory.mktemp("rtmp") / "live.mp4")


@pytest.fixture
def gate() -> RecordingGate:
    return RecordingGate()


@pytest.fixture
async def server(gate: RecordingGate) -> AsyncIterator[RtmpServer]:
    async with RtmpServer(gate, host="127.0.0.1", port=0) as rtmp:
        yield rtmp


def url(server: RtmpServer, key: str = KEY, app: str = "live") -> str:
    return f"rtmp://127.0.0.1:{server.port}/{app}/{key}"


async def ffmpeg(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        get_ffmpeg_exe(),
        "-nostdin",
        "-v",
        "error",
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def publish(clip: Path, target: str, *, loop: bool = False) -> asyncio.subprocess.Process:
    looping = ["-stream_loop", "-1"] if loop else []
    return await ffmpeg("-re", *looping, "-i", str(clip), "-c", "copy", "-f", "flv", target)


async def play(source: str, output: Path) -> asyncio.subprocess.Process:
    return await ffmpeg("-y", "-i", source, "-c", "copy", str(output))


async def finish(process: asyncio.subprocess.Process, timeout_s: float = DEADLINE_S) -> int:
    """The exit code, within a deadline (killing the process if it overruns)."""
    try:
        await asyncio.wait_for(process.communicate(), timeout_s)  # drains stderr too
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"ffmpeg still running after {timeout_s} s") from None
    assert process.returncode is not None
    return process.returncode


@dataclass(frozen=True)
class Played:
    video_frames: int
    audio_frames: int
    first_video_is_keyframe: bool


def decode(path: Path) -> Played:
    """Decode the whole played file with PyAV."""
    with av.open(str(path)) as container:
        packets = [p for p in container.demux(video=0) if p.size]
        first_key = bool(packets) and packets[0].is_keyframe
    with av.open(str(path)) as container:
        video = sum(1 for _ in container.decode(video=0))
    with av.open(str(path)) as container:
        audio = sum(1 for _ in container.decode(audio=0))
    return Played(video, audio, first_key)


async def until_live(server: RtmpServer, key: str = KEY, past_ms: int = 0) -> None:
    def reached() -> bool:
        live = server.live_stream("live", key)
        return live is not None and live.last_timestamp_ms >= past_ms

    await async_wait_until(reached, timeout_s=DEADLINE_S, message=f"{key} live past {past_ms} ms")


async def test_ffmpeg_publishes_and_a_concurrent_player_gets_decodable_audio_and_video(
    server: RtmpServer, gate: RecordingGate, live_clip: Path, tmp_path: Path
) -> None:
    """ffmpeg publishes to /live/KEY, ffmpeg plays it at once; the played file decodes."""
    publisher = await publish(live_clip, url(server))
    await until_live(server)
    player = await play(url(server), tmp_path / "played.flv")
    assert 0 == await finish(publisher)
    assert 0 == await finish(player)
    played = decode(tmp_path / "played.flv")
    assert played.first_video_is_keyframe
    assert played.video_frames > 50
    assert played.audio_frames > 50
    assert [("published", KEY), ("unpublished", KEY)] == gate.events
    assert [] == server.live_keys


async def test_a_late_player_starts_on_the_cached_keyframe(
    server: RtmpServer, live_clip: Path, tmp_path: Path
) -> None:
    """A player joining 2 s in gets the sequence headers and the last GOP: it decodes from a
    keyframe, and holds less than the whole stream."""
    publisher = await publish(live_clip, url(server))
    await until_live(server)
    early = await play(url(server), tmp_path / "early.flv")
    await until_live(server, past_ms=2000)
    late = await play(url(server), tmp_path / "late.flv")
    assert 0 == await finish(publisher)
    assert 0 == await finish(early)
    assert 0 == await finish(late)
    whole, joined = decode(tmp_path / "early.flv"), decode(tmp_path / "late.flv")
    assert joined.first_video_is_keyframe
    assert 0 < joined.video_frames < whole.video_frames
    assert joined.audio_frames > 0


async def test_timestamps_past_24_bits_use_extended_timestamps_both_ways(
    server: RtmpServer, live_clip: Path, tmp_path: Path
) -> None:
    """A stream whose clock crosses 0xFFFFFF ms (4 h 39 min in) is relayed and plays."""
    offset_s = 16776  # 0xFFFFFF ms is 16777.215 s: the clip crosses it
    publisher = await ffmpeg(
        "-re", "-i", str(live_clip), "-c", "copy", "-output_ts_offset", str(offset_s),
        "-f", "flv", url(server),
    )  # fmt: skip
    await until_live(server)
    player = await play(url(server), tmp_path / "played.flv")
    await until_live(server, past_ms=0xFFFFFF + 500)
    assert 0 == await finish(publisher)
    assert 0 == await finish(player)
    played = decode(tmp_path / "played.flv")
    assert played.first_video_is_keyframe
    assert played.video_frames > 50


async def test_an_unknown_key_is_refused(
    server: RtmpServer, gate: RecordingGate, live_clip: Path
) -> None:
    """Publishing a key the gate does not know fails in ffmpeg; nothing is published."""
    publisher = await publish(live_clip, url(server, "no-such-key"))
    assert 0 != await finish(publisher, timeout_s=10)
    assert 0 == gate.count("published")
    assert [] == server.live_keys


async def test_a_second_publisher_on_a_live_key_is_refused(
    server: RtmpServer, gate: RecordingGate, live_clip: Path
) -> None:
    """While KEY is live, another publish of KEY fails; the first goes on to the end."""
    first = await publish(live_clip, url(server))
    await until_live(server)
    second = await publish(live_clip, url(server))
    assert 0 != await finish(second, timeout_s=10)
    assert server.live_stream("live", KEY) is not None
    assert 0 == await finish(first)
    assert [("published", KEY), ("unpublished", KEY)] == gate.events


async def test_playing_needs_a_live_key_of_the_live_app(
    server: RtmpServer, live_clip: Path, tmp_path: Path
) -> None:
    """Play of a key that is not live, of an unknown key, or of another app fails."""
    assert 0 != await finish(await play(url(server, OTHER_KEY), tmp_path / "a.flv"), 10)
    publisher = await publish(live_clip, url(server))
    await until_live(server)
    assert 0 != await finish(await play(url(server, "no-such-key"), tmp_path / "b.flv"), 10)
    assert 0 != await finish(await play(url(server, KEY, app="vod"), tmp_path / "c.flv"), 10)
    assert 0 == await finish(publisher)


async def test_a_killed_publisher_ends_the_session_and_its_players(
    server: RtmpServer, gate: RecordingGate, live_clip: Path, tmp_path: Path
) -> None:
    """SIGKILL the publishing ffmpeg: `unpublished` comes once, the player's stream ends and
    what it got decodes, and the key can be published again."""
    publisher = await publish(live_clip, url(server), loop=True)
    await until_live(server)
    player = await play(url(server), tmp_path / "played.flv")
    await until_live(server, past_ms=1500)
    publisher.send_signal(signal.SIGKILL)
    await publisher.wait()
    await async_wait_until(
        lambda: gate.count("unpublished") == 1, timeout_s=DEADLINE_S, message="unpublished"
    )
    await finish(player)
    assert decode(tmp_path / "played.flv").video_frames > 0
    assert [("published", KEY), ("unpublished", KEY)] == gate.events
    assert [] == server.live_keys


async def _read_to_eof(reader: asyncio.StreamReader) -> bytes:
    data = b""
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(65536):
            data += chunk
    return data


async def test_garbage_is_disconnected_and_the_server_keeps_serving(
    server: RtmpServer, gate: RecordingGate, live_clip: Path
) -> None:
    """An HTTP request, and a valid handshake followed by nonsense chunks, are both closed
    on; a real publish afterwards works."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"" == await asyncio.wait_for(_read_to_eof(reader), DEADLINE_S)
    writer.close()

    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"\x03" + os.urandom(1536))
    await reader.readexactly(1 + 1536 * 2)
    # C2, then a type-1 chunk header on a chunk stream that never had a type-0 header.
    writer.write(bytes(1536) + b"\x45" + os.urandom(64))
    await asyncio.wait_for(_read_to_eof(reader), DEADLINE_S)
    writer.close()

    assert 0 == await finish(await publish(live_clip, url(server)))
    assert [("published", KEY), ("unpublished", KEY)] == gate.events


class RawClient:
    """A bare RTMP client on a blocking socket: handshake, connect, createStream, then one
    publish or play, and after that it neither sends nor reads (a stalled player, or a
    publisher whose host vanished). Its receive buffer is small so the server's writes back
    up quickly."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)

    def start(self, port: int, verb: str, key: str) -> None:
        self.sock.settimeout(DEADLINE_S)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(b"\x03" + bytes(1536))
        handshake = b""
        while len(handshake) < 1 + 1536 * 2:
            handshake += self.sock.recv(1 + 1536 * 2 - len(handshake))
        self.sock.sendall(handshake[1 : 1 + 1536])  # C2 echoes S1

        def send_command(stream_id: int, *values: object) -> None:
            body = encode_values(*values)
            message = RtmpMessage(MessageType.COMMAND_AMF0, stream_id, 0, body)
            self.sock.sendall(encode_message(message, 3, 128))

        send_command(0, "connect", 1, {"app": "live", "tcUrl": f"rtmp://127.0.0.1:{port}/live"})
        send_command(0, "createStream", 2, None)
        send_command(1, verb, 0, None, key)

    def close(self) -> None:
        self.sock.close()


async def test_a_silent_publisher_is_timed_out(gate: RecordingGate) -> None:
    """A publisher that goes quiet without closing (its host died) is ended after the idle
    timeout: `unpublished` once, the key free again."""
    async with RtmpServer(gate, port=0, idle_timeout_s=1.0) as server:
        silent = RawClient()
        try:
            await asyncio.to_thread(silent.start, server.port, "publish", KEY)
            await async_wait_until(lambda: gate.count("published") == 1, message="published")
            await async_wait_until(
                lambda: gate.count("unpublished") == 1, timeout_s=DEADLINE_S, message="timeout"
            )
            assert [] == server.live_keys
        finally:
            silent.close()


async def test_a_player_that_stops_reading_stalls_nobody(
    gate: RecordingGate, tmp_path: Path
) -> None:
    """A player that never reads is dropped once it is too far behind; the publish runs to
    its end and a second player gets the whole stream. (The clip is ~2 MB so that the
    stalled player's backlog outgrows the socket buffers and the 1 MiB cap; one GOP fits.)"""
    heavy_clip = make_live_clip(tmp_path / "heavy.mp4", noise=True)
    async with RtmpServer(
        gate, port=0, max_player_backlog_bytes=1024 * 1024, player_send_buffer_bytes=64 * 1024
    ) as server:
        publisher = await publish(heavy_clip, url(server))
        await until_live(server)
        stalled = RawClient()
        try:
            await asyncio.to_thread(stalled.start, server.port, "play", KEY)
            live = server.live_stream("live", KEY)
            assert live is not None
            await async_wait_until(lambda: live.player_count == 1, message="stalled player")
            player = await play(url(server), tmp_path / "played.flv")
            assert 0 == await finish(publisher)
            assert 0 == await finish(player)
            assert 1 == live.dropped_players
        finally:
            stalled.close()
    played = decode(tmp_path / "played.flv")
    assert played.first_video_is_keyframe
    assert played.video_frames > 50
    assert [("published", KEY), ("unpublished", KEY)] == gate.events


async def test_stopping_the_server_ends_live_sessions(gate: RecordingGate) -> None:
    """`stop()` with a publisher connected reports `unpublished` once and closes it."""
    server = RtmpServer(gate, port=0)
    await server.start()
    publisher = RawClient()
    try:
        await asyncio.to_thread(publisher.start, server.port, "publish", KEY)
        await async_wait_until(lambda: gate.count("published") == 1, message="published")
        await server.stop()
        assert [("published", KEY), ("unpublished", KEY)] == gate.events
        publisher.sock.settimeout(DEADLINE_S)
        with contextlib.suppress(ConnectionError):
            while publisher.sock.recv(65536):
                pass  # the server's replies, then the end of the connection
    finally:
        publisher.close()
