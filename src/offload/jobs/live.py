"""`live-rtmp-hls-transcoding`: its payload shapes. A live job's output comes as updates
(HLS chunks and playlists added or removed); its success carries nothing. No runner or local
worker processes it yet, and the instance keeps what a runner sends (`KeepFilesHandler`)."""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

from offload.domain.errors import InvalidPayload
from offload.domain.jobs import JobType
from offload.domain.runners import LIVE_CHUNK_RE, LIVE_PLAYLIST_RE
from offload.jobs.kind import JobKind

__all__ = ["KIND"]


def _verify_success(fields: Mapping[str, Any], files: Set[str]) -> None:
    if fields or files:
        raise InvalidPayload()


def _verify_update(fields: Mapping[str, Any], files: Set[str]) -> None:
    kind = fields.get("type")
    if kind not in ("add-chunk", "remove-chunk"):
        raise InvalidPayload()
    chunk = fields.get("videoChunkFilename")
    if not isinstance(chunk, str) or not LIVE_CHUNK_RE.match(chunk):
        raise InvalidPayload()
    if kind == "add-chunk" and "videoChunkFile" not in files:
        raise InvalidPayload()
    playlist = fields.get("resolutionPlaylistFilename")
    if playlist is not None and (
        not isinstance(playlist, str) or not LIVE_PLAYLIST_RE.match(playlist)
    ):
        raise InvalidPayload()
    if (playlist is None) != ("resolutionPlaylistFile" not in files):
        raise InvalidPayload()
    if set(fields) - {"type", "videoChunkFilename", "resolutionPlaylistFilename"}:
        raise InvalidPayload()


KIND = JobKind(JobType.LIVE_RTMP_HLS, _verify_success, _verify_update)
