"""What a runner posted: text fields and files already streamed to disk, and the handlers
that turn a finished job into instance state (media pipeline, live, studio …)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncConnection

from offload.domain.jobs import Job, JobType

if TYPE_CHECKING:
    from offload.instance.videos import VideoService

__all__ = [
    "Commit",
    "CompletionFactory",
    "CompletionStaging",
    "JobHandler",
    "KeepFilesHandler",
    "PostedPayload",
]

#: A database change to run in the same transaction as the COMPLETED transition.
Commit = Callable[[AsyncConnection], Awaitable[None]]


@dataclass
class PostedPayload:
    """The `payload[...]` of an update or success: nested text fields and temp files."""

    fields: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    def cleanup(self) -> None:
        """Remove temp files nobody moved away."""
        for path in self.files.values():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


class CompletionStaging:
    """Job-owned homes for the files of a success while its completion runs:
    `<root>/<job uuid>.<attempt>/<field name>`.

    The HTTP request that brought the files may end before the completion does (it answers
    after `success_wait_s`), and a local worker removes its work dir once it reported; so the
    files are moved here first, and only the completion, or the recovery of a completion that
    died, removes them. One dir per attempt: a completion given up for lost that still runs
    must not remove the files of the job's next success.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def adopt(self, job: Job, posted: PostedPayload) -> PostedPayload:
        """Move the posted files into the attempt's staging dir (a rename on one filesystem)."""
        home = self.root / _staging_name(job)
        home.mkdir(parents=True, exist_ok=True)
        files: dict[str, Path] = {}
        for name, path in posted.files.items():
            # Field names come from a fixed list (validated before), never from the client.
            files[name] = Path(shutil.move(path, home / name))
        return PostedPayload(fields=posted.fields, files=files)

    def release(self, job: Job) -> None:
        shutil.rmtree(self.root / _staging_name(job), ignore_errors=True)

    def listed(self) -> set[str]:
        """The staging dirs there are now."""
        try:
            return {entry.name for entry in os.scandir(self.root) if entry.is_dir()}
        except FileNotFoundError:
            return set()

    def sweep(self, listed: set[str], completing: Iterable[Job]) -> None:
        """Remove the dirs of `listed` (read before `completing`, so that a completion starting
        meanwhile is not in it) that belong to no completion still running."""
        for name in listed - {_staging_name(job) for job in completing}:
            shutil.rmtree(self.root / name, ignore_errors=True)


def _staging_name(job: Job) -> str:
    return f"{job.uuid}.{job.attempt}"


@runtime_checkable
class JobHandler(Protocol):
    """Per-type side effects of the job lifecycle; the core stays ignorant of media."""

    async def complete(self, job: Job, result: PostedPayload) -> Commit | None:
        """Verify and store a success. Raise OutputRefused to fail the attempt (counted)."""
        ...

    async def on_update(self, job: Job, update: PostedPayload) -> None:
        """A progress update with a payload (live chunks)."""
        ...

    async def on_finished(self, job: Job) -> None:
        """The job ended ERRORED, CANCELLED, PARENT_ERRORED or PARENT_CANCELLED."""
        ...


#: Builds a job type's handler for an instance's media pipeline: its videos, its clock, and
#: what to call after each completion or failure (wakes the local workers for promoted jobs).
CompletionFactory = Callable[
    ["VideoService", Callable[[], datetime], Callable[[], None]], JobHandler
]


class KeepFilesHandler:
    """Default handler: keep what the runner sent under `<data>/job-results/<job uuid>/`."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "job-results"

    async def complete(self, job: Job, result: PostedPayload) -> Commit | None:
        target = self.root / job.uuid
        target.mkdir(parents=True, exist_ok=True)
        for name, path in result.files.items():
            os.replace(path, target / name)
        return None

    async def on_update(self, job: Job, update: PostedPayload) -> None:
        return None

    async def on_finished(self, job: Job) -> None:
        if job.type is not JobType.LIVE_RTMP_HLS:
            shutil.rmtree(self.root / job.uuid, ignore_errors=True)
