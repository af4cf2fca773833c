"""What a runner posted: text fields and files already streamed to disk, and the handlers
that turn a finished job into instance state (media pipeline, live, studio …)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from offload.domain.jobs import Job, JobType

__all__ = ["Commit", "JobHandler", "KeepFilesHandler", "PostedPayload"]

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
