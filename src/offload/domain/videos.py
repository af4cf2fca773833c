"""Videos as the domain sees them: PeerTube's video states, short UUIDs, identifiers, and the
decision that moves a video forward when its transcoding jobs end. Pure: values in, values out."""

from __future__ import annotations

import enum
import re
import uuid as uuidlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from offload.domain.jobs import JobState

__all__ = [
    "SHORT_UUID_ALPHABET",
    "Video",
    "VideoFile",
    "VideoId",
    "VideoState",
    "max_quality_file",
    "newest_files",
    "next_video_state",
    "parse_video_id",
    "playable_files",
    "short_uuid",
    "uuid_from_short",
]

#: PeerTube's `short-uuid` translator uses the flickrBase58 alphabet, padded to 22 characters.
SHORT_UUID_ALPHABET = "123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
_SHORT_LENGTH = 22
_INDEX = {c: i for i, c in enumerate(SHORT_UUID_ALPHABET)}
_ID_RE = re.compile(r"^[0-9]{1,15}$")
_MAX_ID = 2**31 - 1


class VideoState(enum.IntEnum):
    """The video states this instance uses, with PeerTube's ids."""

    PUBLISHED = 1
    TO_TRANSCODE = 2
    TRANSCODING_FAILED = 7
    #: A studio edit is waiting for (or running on) a runner; the video keeps playing.
    TO_EDIT = 9

    @property
    def label(self) -> str:
        return _LABELS[self]

    def to_wire(self) -> dict[str, object]:
        return {"id": int(self), "label": self.label}


_LABELS = {
    VideoState.PUBLISHED: "Published",
    VideoState.TO_TRANSCODE: "To transcode",
    VideoState.TRANSCODING_FAILED: "Transcoding failed",
    VideoState.TO_EDIT: "To edit",
}


@dataclass(frozen=True, slots=True)
class Video:
    """A video row, decoded."""

    id: int
    uuid: str
    name: str
    state: VideoState
    duration_s: float | None
    has_video: bool
    has_audio: bool
    input_resolution: int
    input_fps: float
    preview_filename: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    #: The uploader (their account and default channel); None when read without it.
    owner_id: int | None = None
    owner_name: str | None = None
    #: The generation of files players get (see `playable_files`).
    generation: int = 0

    @property
    def short_uuid(self) -> str:
        return short_uuid(self.uuid)


@dataclass(frozen=True, slots=True)
class VideoFile:
    """A playable file of a video: a web video (`kind` "web") or an HLS rendition ("hls")."""

    id: int
    video_id: int
    kind: str
    filename: str
    playlist_filename: str | None
    resolution: int
    fps: int
    width: int
    height: int
    size: int
    duration_s: float | None
    bandwidth: int
    codecs: str
    has_video: bool
    has_audio: bool
    created_at: datetime
    #: 0 for the upload's files, one more for each studio edit's.
    generation: int = 0

    @property
    def is_audio_only(self) -> bool:
        return self.has_audio and not self.has_video


def playable_files(video: Video, files: Iterable[VideoFile]) -> list[VideoFile]:
    """The files players get: the video's current generation.

    A studio edit makes its files as the next generation beside these; the video switches to
    them in one transaction once the edit's required renditions are in, so it never goes
    unplayable, nor mixes renditions of two edits, in between.
    """
    return [f for f in files if f.generation == video.generation]


def newest_files(files: Iterable[VideoFile]) -> list[VideoFile]:
    """The files of the newest generation: what the jobs of a video read as their input (the
    edited file, once an edit is in, even before players switch to it)."""
    listed = list(files)
    newest = max((f.generation for f in listed), default=0)
    return [f for f in listed if f.generation == newest]


def max_quality_file(files: Iterable[VideoFile], *, audio: bool = False) -> VideoFile | None:
    """The file runners download as input (R9/R10).

    Video (R9): the best file with a video stream, else the best audio file. Audio (R10): the
    best audio-only file (split audio), else the best file that carries audio, else R9's file.
    "Best" is the highest resolution, then fps, then a web file before an HLS one (it carries
    both streams), then the newest.
    """
    listed = list(files)

    def rank(f: VideoFile) -> tuple[int, int, int, int]:
        return (f.resolution, f.fps, 1 if f.kind == "web" else 0, f.id)

    def best(candidates: list[VideoFile]) -> VideoFile | None:
        return max(candidates, key=rank) if candidates else None

    if audio:
        found = best([f for f in listed if f.is_audio_only]) or best(
            [f for f in listed if f.has_audio]
        )
        if found is not None:
            return found
    return best([f for f in listed if f.has_video]) or best([f for f in listed if f.has_audio])


def short_uuid(value: str) -> str:
    """`uuidToShort`: the UUID's 128 bits written in base 58, left-padded to 22 characters."""
    number = uuidlib.UUID(value).int
    digits: list[str] = []
    while number:
        number, rest = divmod(number, 58)
        digits.append(SHORT_UUID_ALPHABET[rest])
    return "".join(reversed(digits)).rjust(_SHORT_LENGTH, SHORT_UUID_ALPHABET[0])


def uuid_from_short(value: str) -> str | None:
    """`shortToUUID`, or None when `value` is not a short UUID."""
    if not 1 <= len(value) <= _SHORT_LENGTH or any(c not in _INDEX for c in value):
        return None
    number = 0
    for c in value:
        number = number * 58 + _INDEX[c]
    if number >= 1 << 128:
        return None
    return str(uuidlib.UUID(int=number))


@dataclass(frozen=True, slots=True)
class VideoId:
    """A `videoId` path parameter once understood: a numeric id or a UUID."""

    id: int | None = None
    uuid: str | None = None


def parse_video_id(raw: str) -> VideoId | None:
    """PeerTube's `isValidVideoIdParam`: a numeric id, a UUID v4 or a short UUID; None if invalid."""
    if _ID_RE.match(raw):
        # Ids are 32-bit integers in the store; a larger number names no video and is invalid.
        return VideoId(id=int(raw)) if int(raw) <= _MAX_ID else None
    candidate: str | None = (
        raw.lower()
        if len(raw) == 36
        else uuid_from_short(raw)
        if len(raw) == _SHORT_LENGTH
        else None
    )
    if candidate is None:
        return None
    try:
        parsed = uuidlib.UUID(candidate)
    except ValueError:
        return None
    if parsed.version != 4 or str(parsed) != candidate:
        return None
    return VideoId(uuid=candidate)


def next_video_state(current: VideoState, jobs: Iterable[tuple[bool, JobState]]) -> VideoState:
    """Where a video goes once one of its transcoding jobs changed state.

    Args:
        current: the video's state now.
        jobs: (required, state) of every transcoding job of the video.

    A published video stays published (a failed optional rendition does not take it down).
    Otherwise an ERRORED job fails the video, and once every required job has ended without
    error (completed or cancelled) the video is published.
    """
    if current is VideoState.PUBLISHED:
        return current
    listed = list(jobs)
    if any(state is JobState.ERRORED for _, state in listed):
        return VideoState.TRANSCODING_FAILED
    if current is VideoState.TRANSCODING_FAILED:
        return current
    required_active = [state for required, state in listed if required and state not in _ENDED_WELL]
    return VideoState.TO_TRANSCODE if required_active else VideoState.PUBLISHED


_ENDED_WELL = frozenset({JobState.COMPLETED, JobState.CANCELLED, JobState.PARENT_CANCELLED})
