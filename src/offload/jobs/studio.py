"""`video-studio-transcoding` (studio edits): its payload shapes. No runner or local worker
processes it yet, and the instance keeps what a runner sends (`KeepFilesHandler`)."""

from __future__ import annotations

from offload.domain.jobs import JobType
from offload.jobs.kind import JobKind, no_update_payload, success_files

__all__ = ["KIND"]

KIND = JobKind(JobType.STUDIO, success_files("videoFile"), no_update_payload)
