"""`video-transcription`: its payload shapes (a WebVTT file, and the language the runner
detected, if it says). No runner or local worker processes it yet, and the instance keeps
what a runner sends (`KeepFilesHandler`)."""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

from offload.domain.errors import InvalidPayload
from offload.domain.jobs import JobType
from offload.jobs.kind import JobKind, no_update_payload

__all__ = ["KIND"]


def _verify_success(fields: Mapping[str, Any], files: Set[str]) -> None:
    language = fields.get("inputLanguage")
    if "vttFile" not in files or (language is not None and not isinstance(language, str)):
        raise InvalidPayload()
    if set(fields) - {"inputLanguage"}:
        raise InvalidPayload()


KIND = JobKind(JobType.TRANSCRIPTION, _verify_success, no_update_payload)
