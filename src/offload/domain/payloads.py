"""What a runner may post as `payload` to `update` and `success`, per job type (PeerTube §5)."""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

from offload.domain.errors import InvalidPayload
from offload.domain.jobs import JobType
from offload.domain.runners import LIVE_CHUNK_RE, LIVE_PLAYLIST_RE

__all__ = [
    "SUCCESS_FILE_FIELDS",
    "UPDATE_FILE_FIELDS",
    "validate_success",
    "validate_update",
]

#: File parts accepted on success / update (multer's field lists); anything else is refused.
SUCCESS_FILE_FIELDS = frozenset({"videoFile", "resolutionPlaylistFile", "vttFile", "storyboardFile"})
UPDATE_FILE_FIELDS = frozenset({"videoChunkFile", "resolutionPlaylistFile", "masterPlaylistFile"})

_REQUIRED_SUCCESS_FILES: dict[JobType, frozenset[str]] = {
    JobType.VOD_WEB_VIDEO: frozenset({"videoFile"}),
    JobType.VOD_HLS: frozenset({"videoFile", "resolutionPlaylistFile"}),
    JobType.VOD_AUDIO_MERGE: frozenset({"videoFile"}),
    JobType.STUDIO: frozenset({"videoFile"}),
    JobType.TRANSCRIPTION: frozenset({"vttFile"}),
    JobType.STORYBOARD: frozenset({"storyboardFile"}),
    JobType.LIVE_RTMP_HLS: frozenset(),
}


def validate_success(job_type: JobType, fields: Mapping[str, Any], files: Set[str]) -> None:
    """Raise InvalidPayload unless the success payload fits the job type."""
    required = _REQUIRED_SUCCESS_FILES[job_type]
    if not required <= files:
        raise InvalidPayload()
    if job_type is JobType.LIVE_RTMP_HLS:
        if fields or files:
            raise InvalidPayload()
        return
    if job_type is JobType.TRANSCRIPTION:
        language = fields.get("inputLanguage")
        if language is not None and not isinstance(language, str):
            raise InvalidPayload()
        if set(fields) - {"inputLanguage"}:
            raise InvalidPayload()
        return
    if fields:
        raise InvalidPayload()


def validate_update(job_type: JobType, fields: Mapping[str, Any], files: Set[str]) -> None:
    """Raise InvalidPayload unless the update payload fits the job type."""
    if job_type is not JobType.LIVE_RTMP_HLS:
        if fields or files:
            raise InvalidPayload()
        return
    kind = fields.get("type")
    if kind not in ("add-chunk", "remove-chunk"):
        raise InvalidPayload()
    chunk = fields.get("videoChunkFilename")
    if not isinstance(chunk, str) or not LIVE_CHUNK_RE.match(chunk):
        raise InvalidPayload()
    if kind == "add-chunk" and "videoChunkFile" not in files:
        raise InvalidPayload()
    playlist = fields.get("resolutionPlaylistFilename")
    if playlist is not None and (not isinstance(playlist, str) or not LIVE_PLAYLIST_RE.match(playlist)):
        raise InvalidPayload()
    if (playlist is None) != ("resolutionPlaylistFile" not in files):
        raise InvalidPayload()
    if set(fields) - {"type", "videoChunkFilename", "resolutionPlaylistFilename"}:
        raise InvalidPayload()
