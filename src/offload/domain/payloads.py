"""The file parts a runner may post to `update` and `success` (PeerTube §5: multer's field
lists). What each job type's payload must hold is its `JobKind`'s (`offload.jobs`)."""

from __future__ import annotations

__all__ = ["SUCCESS_FILE_FIELDS", "UPDATE_FILE_FIELDS"]

#: File parts accepted on success / update; anything else is refused.
SUCCESS_FILE_FIELDS = frozenset(
    {"videoFile", "resolutionPlaylistFile", "vttFile", "storyboardFile"}
)
UPDATE_FILE_FIELDS = frozenset({"videoChunkFile", "resolutionPlaylistFile", "masterPlaylistFile"})
