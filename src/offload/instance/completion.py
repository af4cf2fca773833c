"""Completion of a rendition job (the VOD family): check what the runner sent, store it, move
the video on. What differs between the types — the streams expected, where the files go, what
else a new rendition replaces — is each type's `Rendition` (`offload/jobs/vod_completion.py`).

```
success ──► verify (probe + decode, off the event loop) ──refused──► OutputRefused (counted, retried)
              │
              ▼
            place files under new names (temp + rename) ──► Commit, run with COMPLETED:
              rows in, replaced rows out (their files queued for deletion), master playlist,
              video published once its required jobs are done
```

A runner can alter content, so nothing it sends is trusted: the output must decode, carry the
streams the job asked for, at the resolution asked for, for as long as the video lasts (an
audio merge's picture may be smaller, and its sound is what must last: see `Expected`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import av
import av.error
from sqlalchemy.ext.asyncio import AsyncConnection

from offload.domain.errors import OutputRefused
from offload.domain.jobs import Job
from offload.domain.videos import (
    Video,
    VideoFile,
    VideoState,
    max_quality_file,
    next_video_state,
)
from offload.instance.results import Commit, PostedPayload
from offload.instance.videos import VideoService
from offload.media.errors import ProbeError
from offload.media.probe import MediaInfo, probe

__all__ = ["Expected", "OutputCheck", "Placed", "Rendition", "RenditionCompletion", "check_output"]

log = logging.getLogger(__name__)

#: An output may be this much shorter or longer than the video (encoder padding, frame rounding).
DURATION_TOLERANCE_S = 0.5
DURATION_TOLERANCE_RATIO = 0.02
#: Frames decoded per stream to call a file decodable.
_DECODE_FRAMES = 3


@dataclass(frozen=True, slots=True)
class Expected:
    """The streams an output must have: a picture of `resolution` (short side) or none, sound or not."""

    resolution: int
    video: bool
    audio: bool
    #: A still picture looped over the sound (the audio merge), checked as PeerTube does: its
    #: runner keeps the preview's own size, so the picture may be smaller than `resolution`
    #: (never larger); and `-shortest` lets the picture run past the sound, so the duration
    #: checked is the audio stream's, not the container's.
    still_picture: bool = False


@dataclass(frozen=True, slots=True)
class OutputCheck:
    """What the verification learnt about an accepted output."""

    info: MediaInfo


@dataclass(frozen=True, slots=True)
class Placed:
    """A verified output moved into the media tree: its `video_files` row values and paths."""

    values: dict[str, Any]
    paths: list[Path]


class Rendition(Protocol):
    """What one rendition job type does differently from the others on completion."""

    #: The output's duration becomes the video's (the audio merge, as PeerTube: the renditions
    #: made from the merged file last as long as it does).
    takes_duration: bool

    def expected(self, job: Job, video: Video) -> Expected:
        """The streams the job's output must carry."""
        ...

    async def place(
        self,
        videos: VideoService,
        job: Job,
        video: Video,
        result: PostedPayload,
        info: MediaInfo,
        now: datetime,
    ) -> Placed:
        """Move the verified output into the media tree (raise OutputRefused if a part is bad)."""
        ...

    def also_removes(self, job: Job, video: Video, kept: list[VideoFile]) -> set[int]:
        """Ids among `kept` (the video's files once the new one is in) this completion deletes
        besides the renditions it replaces."""
        ...


def check_output(expected: Expected, video: Video, path: Path) -> OutputCheck:
    """Refuse an output that does not match its job (runs in a worker thread).

    Raises:
        OutputRefused: unreadable, undecodable, a stream missing, wrong resolution or duration.
    """
    try:
        info = probe(path)
    except ProbeError as exc:
        raise OutputRefused(f"the output is not readable media ({exc.message})") from exc
    resolution = expected.resolution
    if expected.video:
        if info.video is None:
            raise OutputRefused(
                f"the output has no video stream, a {resolution}p rendition was asked"
            )
        # The short side is the resolution, for landscape and portrait alike.
        off = info.resolution - resolution
        if off > 1 or (off < -1 and not expected.still_picture):
            raise OutputRefused(
                f"the output is {info.video.width}x{info.video.height}, a {resolution}p rendition was asked"
            )
    elif info.video is not None:
        raise OutputRefused("the output has a video stream, an audio-only rendition was asked")
    if expected.audio and info.audio is None:
        raise OutputRefused("the output has no audio stream, the video has one")
    duration = video.duration_s
    lasts, what = info.duration_s, "the output"
    if expected.still_picture and info.audio is not None and info.audio.duration_s is not None:
        lasts, what = info.audio.duration_s, "the output's audio"
    if duration and lasts is not None:
        tolerance = max(DURATION_TOLERANCE_S, duration * DURATION_TOLERANCE_RATIO)
        if abs(lasts - duration) > tolerance:
            raise OutputRefused(f"{what} lasts {lasts:.2f} s, the video {duration:.2f} s")
    _check_decodes(path, info)
    return OutputCheck(info)


def _check_decodes(path: Path, info: MediaInfo) -> None:
    """Decode the first frames of each expected stream in one demuxing pass (no seeking)."""
    try:
        with av.open(str(path)) as container:
            streams: list[av.VideoStream | av.AudioStream] = []
            if info.has_video:
                streams.append(container.streams.video[0])
            if info.has_audio:
                streams.append(container.streams.audio[0])
            decoded = {s.index: 0 for s in streams}
            kinds = {s.index: s.type for s in streams}
            for packet in container.demux(*streams):
                # The end-of-stream flush packets carry no usable stream index.
                index = packet.stream_index
                if index in decoded and decoded[index] < _DECODE_FRAMES:
                    decoded[index] += len(packet.decode())
                if all(n >= _DECODE_FRAMES for n in decoded.values()):
                    break
            for stream in streams:
                if decoded[stream.index] == 0:
                    # A very short stream may only come out of the decoder when drained.
                    decoded[stream.index] += len(stream.codec_context.decode(None))
    except av.error.FFmpegError as exc:
        raise OutputRefused(f"the output does not decode: {exc}") from exc
    for index, count in decoded.items():
        if count == 0:
            raise OutputRefused(f"the output's {kinds[index]} stream decodes to nothing")


class RenditionCompletion:
    """The `JobHandler` of one rendition job type, whose differences are its `rendition`."""

    def __init__(
        self, videos: VideoService, now: Callable[[], datetime], rendition: Rendition
    ) -> None:
        self.videos = videos
        self.storage = videos.storage
        self.repo = videos.repo
        self.now = now
        self.rendition = rendition
        #: Called after each completion or failure (wakes the local workers for promoted jobs).
        self.on_change: Callable[[], None] = lambda: None

    async def complete(self, job: Job, result: PostedPayload) -> Commit | None:
        video_uuid = str(job.private_payload.get("videoUUID", ""))
        async with self.videos.db.read() as conn:
            video = await self.repo.get_by_uuid(conn, video_uuid)
            generation = await self.repo.generation_of_job(conn, job.id) or 0
            files = await self.repo.list_files(conn, video.id) if video is not None else []
        if video is None:
            log.info("video %s of job %s is gone; dropping the output", video_uuid, job.uuid)
            return None
        if generation > video.generation:
            # A rendition of a studio edit: it must last as long as the edited file does.
            source = max_quality_file(f for f in files if f.generation == generation)
            if source is not None and source.duration_s:
                video = dataclasses.replace(video, duration_s=source.duration_s)
        check = await asyncio.to_thread(
            check_output, self.rendition.expected(job, video), video, result.files["videoFile"]
        )
        placed = await self.rendition.place(self.videos, job, video, result, check.info, self.now())
        placed.values["generation"] = generation
        self.on_change()

        async def commit(conn: AsyncConnection) -> None:
            await self._commit(conn, job, video.id, generation, placed)

        return commit

    async def _commit(
        self, conn: AsyncConnection, job: Job, video_id: int, generation: int, placed: Placed
    ) -> None:
        """Runs in the transaction that marks the job COMPLETED."""
        now = self.now()
        video = await self.repo.lock(conn, video_id)
        if video is None:
            return  # deleted while completing: the placed files are queued already
        if generation < video.generation or (
            generation > video.generation and video.state is not VideoState.TO_TRANSCODE
        ):
            # Made for files players left behind, or for an edit that was dropped: the placed
            # files stay queued for deletion.
            log.info("job %s made a rendition of a superseded generation; dropped", job.uuid)
            return
        files = [
            f for f in await self.repo.list_files(conn, video.id) if f.generation == generation
        ]
        new = await self.repo.insert_file(conn, placed.values)
        doomed = _replaced_by(new, files)
        kept = [f for f in files if f.id not in doomed] + [new]
        doomed |= self.rendition.also_removes(job, video, kept)
        kept = [f for f in kept if f.id not in doomed]
        removed = await self.repo.delete_files(conn, doomed)
        await self.repo.add_garbage(conn, self.videos.file_paths(video.uuid, removed), now)
        if removed:
            self.videos.kick_janitor()
        if generation > video.generation:
            await self._commit_edit(conn, video, generation, now)
            return
        if new.duration_s and (not video.duration_s or self.rendition.takes_duration):
            await self.repo.set_duration(conn, video.id, new.duration_s)
        if not await self.videos.is_building(conn, video):
            states = await self.repo.job_states(conn, video.id, generation)
            decided = next_video_state(video.state, states)
            if decided is not video.state:
                await self.repo.set_state(conn, video.id, video.state, decided, now)
                if decided is VideoState.PUBLISHED:
                    self.videos.published(video.id)
        if any(f.kind == "hls" for f in kept) and (
            new.kind == "hls" or any(f.kind == "hls" for f in removed)
        ):
            # Written under the video's row lock: the next completion of this video waits for
            # our commit, then lists our rendition too.
            await asyncio.to_thread(self.videos.write_master, video.uuid, kept)

    async def _commit_edit(
        self, conn: AsyncConnection, video: Video, generation: int, now: datetime
    ) -> None:
        """A rendition of the generation an edit is building is in: once the edit's required
        jobs are all done, players switch to it."""
        states = await self.repo.job_states(conn, video.id, generation)
        if next_video_state(VideoState.TO_TRANSCODE, states) is VideoState.PUBLISHED:
            files = await self.repo.list_files(conn, video.id)
            await self.videos.switch_generation(conn, video, generation, files, now)

    async def on_update(self, job: Job, update: PostedPayload) -> None:
        return None

    async def on_finished(self, job: Job) -> None:
        await self.videos.settle(job)
        self.on_change()


def _replaced_by(new: VideoFile, files: list[VideoFile]) -> set[int]:
    """Files a new rendition supersedes: same kind, resolution and fps (PeerTube's rule), and
    for HLS the same stream layout (a video-only 720p does not replace a muxed 720p)."""
    return {
        f.id
        for f in files
        if f.kind == new.kind
        and f.resolution == new.resolution
        and f.fps == new.fps
        and (f.kind == "web" or (f.has_video, f.has_audio) == (new.has_video, new.has_audio))
    }
