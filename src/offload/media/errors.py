"""Errors of the media layer (probing and running ffmpeg).

```
OffloadError
└── MediaError
    ├── ProbeError      the file cannot be read as audio or video
    ├── FfmpegError     ffmpeg exited with a non-zero status (returncode, stderr_tail)
    ├── UnsupportedJob  no processor for this job type (or payload shape)
    └── MissingCapability  this machine lacks what the type needs (a model, a program)
```

The message is what a runner reports to the instance as the job's error, so it is readable:
for ffmpeg it ends with the last lines ffmpeg printed, which name the real cause.
"""

from __future__ import annotations

from offload.domain.errors import OffloadError

__all__ = ["FfmpegError", "MediaError", "MissingCapability", "ProbeError", "UnsupportedJob"]


class MediaError(OffloadError):
    """The media could not be processed."""


class ProbeError(MediaError):
    """The file is not a readable audio or video file."""


class FfmpegError(MediaError):
    """ffmpeg failed."""

    def __init__(self, returncode: int, stderr_tail: str) -> None:
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        reason = stderr_tail.strip() or "no output"
        super().__init__(f"ffmpeg exited with status {returncode}: {reason}")


class UnsupportedJob(MediaError):
    """This job type is not supported by this processor."""


class MissingCapability(MediaError):
    """This machine cannot do the job's type until it is reconfigured (a model or a program is
    missing): the message names the setting to fix. Another job of the type would fail the
    same way, so a runner stops taking the type instead of burning each job's tries."""
