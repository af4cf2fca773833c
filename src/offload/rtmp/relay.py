"""The relay: one `LiveStream` per published stream key, fanning the publisher's messages out
to its players, and caching what a late player needs to start cleanly.

What a player gets on joining: the metadata (`onMetaData`), the codec sequence headers (AVC or
HEVC decoder configuration, AAC AudioSpecificConfig), then the cached group of pictures, i.e.
every message since the last video keyframe, so its first picture is a keyframe. A player that
joins before the first keyframe gets media only from the next keyframe on.

Slow players: the publisher never waits for a player. Each player has a `Subscription`, a
queue bounded in bytes; when a player falls that far behind (it stopped reading, or its link is
slower than the stream), it is **dropped**: its queue is cleared and its session is closed. A
dropped player can reconnect and start again from the GOP cache; skipping it ahead to the next
keyframe instead would keep a player alive that is, by then, consistently too slow. The GOP
cache itself is bounded too: past `max_gop_bytes` it is emptied until the next keyframe.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from offload.rtmp.messages import (
    MessageType,
    RtmpMessage,
    is_audio_sequence_header,
    is_keyframe,
    is_video_sequence_header,
)

__all__ = [
    "DEFAULT_MAX_GOP_BYTES",
    "DEFAULT_MAX_PLAYER_BACKLOG_BYTES",
    "LiveStream",
    "Subscription",
]

DEFAULT_MAX_GOP_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_PLAYER_BACKLOG_BYTES = 32 * 1024 * 1024


class Subscription:
    """One player's queue of messages, bounded in bytes. `offer` never blocks (the publisher
    calls it); `next` waits for the next message, or returns None once the subscription is
    closed (stream ended, or the player was dropped for falling behind)."""

    def __init__(self, max_backlog_bytes: int) -> None:
        self._queue: deque[RtmpMessage] = deque()
        self._backlog_bytes = 0
        self._max_backlog_bytes = max_backlog_bytes
        self._ready = asyncio.Event()
        self.closed = False
        #: True when it was closed because the player fell too far behind.
        self.overflowed = False
        #: Called once when the player is dropped (the session aborts its connection).
        self.on_drop: Callable[[], None] | None = None

    @property
    def backlog_bytes(self) -> int:
        return self._backlog_bytes

    def offer(self, message: RtmpMessage) -> None:
        if self.closed:
            return
        if self._backlog_bytes + len(message.body) > self._max_backlog_bytes:
            self.overflowed = True
            self.close()
            if self.on_drop is not None:
                self.on_drop()
            return
        self._queue.append(message)
        self._backlog_bytes += len(message.body)
        self._ready.set()

    def close(self) -> None:
        """No more messages: `next` returns what remains, then None (dropped: None at once)."""
        self.closed = True
        if self.overflowed:
            self._queue.clear()
            self._backlog_bytes = 0
        self._ready.set()

    async def next(self) -> RtmpMessage | None:
        while not self._queue:
            if self.closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        message = self._queue.popleft()
        self._backlog_bytes -= len(message.body)
        return message


class LiveStream:
    """A stream being published: the caches and the set of players' subscriptions."""

    def __init__(
        self,
        app: str,
        stream_key: str,
        *,
        max_gop_bytes: int = DEFAULT_MAX_GOP_BYTES,
        max_player_backlog_bytes: int = DEFAULT_MAX_PLAYER_BACKLOG_BYTES,
    ) -> None:
        self.app = app
        self.stream_key = stream_key
        self.metadata: RtmpMessage | None = None
        self.video_header: RtmpMessage | None = None
        self.audio_header: RtmpMessage | None = None
        self._gop: list[RtmpMessage] = []
        self._gop_bytes = 0
        self._max_gop_bytes = max_gop_bytes
        self._max_player_backlog_bytes = max_player_backlog_bytes
        self._has_video = False
        self._subscriptions: dict[Subscription, bool] = {}  # → waiting for a keyframe
        self.ended = False
        #: Players dropped for falling behind, over the stream's life.
        self.dropped_players = 0
        #: Timestamp (ms) of the newest audio or video message: how far the stream has got.
        self.last_timestamp_ms = 0

    @property
    def player_count(self) -> int:
        return len(self._subscriptions)

    def set_metadata(self, message: RtmpMessage) -> None:
        """The `onMetaData` data message (already stripped of `@setDataFrame`)."""
        self.metadata = message
        self._fan_out(message, media=False)

    def push(self, message: RtmpMessage) -> None:
        """An audio or video message from the publisher."""
        if self.ended:
            return
        self.last_timestamp_ms = message.timestamp
        if is_video_sequence_header(message):
            self.video_header = message
            self._has_video = True
            self._fan_out(message, media=False)
            return
        if is_audio_sequence_header(message):
            self.audio_header = message
            self._fan_out(message, media=False)
            return
        if message.type_id == MessageType.VIDEO:
            self._has_video = True
        self._cache(message)
        self._fan_out(message, media=True)

    def _cache(self, message: RtmpMessage) -> None:
        if is_keyframe(message):
            self._gop = [message]
            self._gop_bytes = len(message.body)
        elif self._gop:
            self._gop.append(message)
            self._gop_bytes += len(message.body)
            if self._gop_bytes > self._max_gop_bytes:
                self._gop = []
                self._gop_bytes = 0

    def _fan_out(self, message: RtmpMessage, *, media: bool) -> None:
        keyframe = media and is_keyframe(message)
        for subscription, waiting in list(self._subscriptions.items()):
            if media and waiting and self._has_video:
                if not keyframe:
                    continue
                self._subscriptions[subscription] = False
            subscription.offer(message)
            if subscription.overflowed:
                self.dropped_players += 1
                del self._subscriptions[subscription]

    def subscribe(self) -> Subscription:
        """A new player: its queue starts with the headers and the cached GOP."""
        subscription = Subscription(self._max_player_backlog_bytes)
        for header in (self.metadata, self.video_header, self.audio_header):
            if header is not None:
                subscription.offer(_at(header, self._gop[0].timestamp if self._gop else 0))
        for message in self._gop:
            subscription.offer(message)
        if subscription.overflowed:  # the backlog cap is below the cached GOP: never joins
            self.dropped_players += 1
        else:
            self._subscriptions[subscription] = not self._gop
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.pop(subscription, None)
        subscription.close()

    def end(self) -> None:
        """The publisher is gone: close every player's subscription (they drain, then end)."""
        self.ended = True
        for subscription in self._subscriptions:
            subscription.close()
        self._subscriptions.clear()
        self._gop = []


def _at(message: RtmpMessage, timestamp: int) -> RtmpMessage:
    return RtmpMessage(message.type_id, message.stream_id, timestamp, message.body)
