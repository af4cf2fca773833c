"""The instance's half of the job-type registry: for each wire type whose output the instance
stores, the factory of its `JobHandler` (verify, store, move the video on). A type without
one keeps what the runner sent (`KeepFilesHandler`).

Instance only (it reaches the database); the runner reads `registry.py`.
"""

from __future__ import annotations

from collections.abc import Mapping

from offload.domain.jobs import JobType
from offload.instance.results import CompletionFactory
from offload.jobs import (
    storyboard_completion,
    studio_completion,
    transcription_completion,
    vod_completion,
)

__all__ = ["BUILTIN_COMPLETIONS"]

BUILTIN_COMPLETIONS: Mapping[JobType, CompletionFactory] = {
    **vod_completion.COMPLETIONS,
    **storyboard_completion.COMPLETIONS,
    **studio_completion.COMPLETIONS,
    **transcription_completion.COMPLETIONS,
}
