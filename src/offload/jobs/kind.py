"""What the runner and the instance share about a job type: its payload shapes and its
processing step (payload in, success payload out: files and text fields)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offload.domain.errors import InvalidPayload
from offload.domain.jobs import JobType
from offload.media.ffmpeg import FfmpegOptions
from offload.media.ffmpeg_process import OnProgress, OnStats

__all__ = [
    "Fetch",
    "JobKind",
    "Output",
    "Process",
    "Verify",
    "Work",
    "no_update_payload",
    "split_output",
    "success_files",
]

#: Download an input URL of the payload; the path of the local copy.
Fetch = Callable[[str], Awaitable[Path]]
#: Raise InvalidPayload unless the posted text fields and file field names fit the type.
Verify = Callable[[Mapping[str, Any], Set[str]], None]


@dataclass(frozen=True, slots=True)
class Work:
    """What a processing step gets besides its payload.

    `on_progress` gets whole percents as they change; `on_stats`, if given, every raw ffmpeg
    progress block (output time, speed) for operator views. Uploading the returned files and
    deleting `workdir` is the caller's business.
    """

    workdir: Path
    fetch: Fetch
    on_progress: OnProgress
    ffmpeg: FfmpegOptions
    on_stats: OnStats | None = None


#: A processing step's success payload by protocol field name, as the multipart form it
#: becomes: a Path is a file part (`payload[vttFile]`), a str a text field
#: (`payload[inputLanguage]`). Most types return files only.
Output = Mapping[str, Path | str]

#: Run a job: its public payload in, its success payload out.
Process = Callable[[dict[str, Any], Work], Awaitable[Output]]


def split_output(output: Output) -> tuple[dict[str, Path], dict[str, str]]:
    """The files and the text fields of a processing step's output."""
    files = {k: v for k, v in output.items() if isinstance(v, Path)}
    fields = {k: v for k, v in output.items() if isinstance(v, str)}
    return files, fields


@dataclass(frozen=True, slots=True)
class JobKind:
    """One wire job type as the runner and the local workers see it."""

    type: JobType
    #: Checks a `success` payload (fields and file parts) before anything is stored.
    verify_success: Verify
    #: Checks an `update` payload; most types post none.
    verify_update: Verify
    #: The processing step; None while no runner or local worker can do this type.
    process: Process | None = None


def success_files(*required: str) -> Verify:
    """The success shape of a type that posts files only: these at least, no text field."""
    needed = frozenset(required)

    def verify(fields: Mapping[str, Any], files: Set[str]) -> None:
        if fields or not needed <= files:
            raise InvalidPayload()

    return verify


def no_update_payload(fields: Mapping[str, Any], files: Set[str]) -> None:
    """The update shape of a type whose updates carry progress only."""
    if fields or files:
        raise InvalidPayload()
