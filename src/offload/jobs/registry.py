"""The job types a runner or the instance knows, by wire name: the one place that lists them.

The runner advertises (and requests) the types that have a processing step; the local
workers and the runner run a job through `process`; the instance checks posted payloads
through `verify_success` / `verify_update`. Adding a type: write its module with a `JobKind`
and list it in `BUILTIN_KINDS` (and its completion in `completions.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Set
from typing import Any

from offload.jobs import live, storyboard, studio, transcription, vod
from offload.jobs.kind import JobKind, Output, Work
from offload.media.errors import UnsupportedJob

__all__ = ["BUILTIN_KINDS", "JobKinds"]


class JobKinds:
    """An immutable map from wire type to `JobKind`; `replacing` makes a changed copy."""

    def __init__(self, kinds: Iterable[JobKind]) -> None:
        self._kinds: dict[str, JobKind] = {}
        for kind in kinds:
            if kind.type in self._kinds:
                raise ValueError(f"job type {kind.type!r} is registered twice")
            self._kinds[kind.type] = kind

    def __getitem__(self, job_type: str) -> JobKind:
        return self._kinds[job_type]

    def __iter__(self) -> Iterator[JobKind]:
        return iter(self._kinds.values())

    def replacing(self, kind: JobKind) -> JobKinds:
        """A registry where `kind` takes its wire type's place (or is added)."""
        return JobKinds([*(k for k in self if k.type != kind.type), kind])

    @property
    def processable(self) -> tuple[str, ...]:
        """The wire types something here can process, in registration order."""
        return tuple(str(k.type) for k in self if k.process is not None)

    def verify_success(self, job_type: str, fields: Mapping[str, Any], files: Set[str]) -> None:
        """Raise InvalidPayload unless the success payload fits the job type."""
        self._kinds[job_type].verify_success(fields, files)

    def verify_update(self, job_type: str, fields: Mapping[str, Any], files: Set[str]) -> None:
        """Raise InvalidPayload unless the update payload fits the job type."""
        self._kinds[job_type].verify_update(fields, files)

    async def process(self, job_type: str, payload: dict[str, Any], work: Work) -> Output:
        """Run the job's processing step and return its success payload (files and text
        fields by protocol field name).

        Raises:
            UnsupportedJob: no processing step for `job_type`, or the payload lacks what it needs.
            ProbeError: an input is not audio/video.
            FfmpegError: ffmpeg failed; the message ends with its last stderr lines.
            MissingCapability: this machine lacks what the type needs (a model, a program).
        """
        kind = self._kinds.get(job_type)
        if kind is None or kind.process is None:
            raise UnsupportedJob(
                f"job type {job_type!r} is not supported (supported: {', '.join(self.processable)})"
            )
        return await kind.process(payload, work)


#: Every wire type of the protocol (live and studio are not processed yet).
BUILTIN_KINDS = JobKinds([*vod.KINDS, studio.KIND, live.KIND, transcription.KIND, storyboard.KIND])
