"""Media: probing files and building/running ffmpeg for each job type.

Shared by the runner and the instance's local workers.
"""

from __future__ import annotations

from offload.media.errors import FfmpegError, MediaError, ProbeError
from offload.media.probe import AudioStream, MediaInfo, VideoStream, probe

__all__ = [
    "AudioStream",
    "FfmpegError",
    "MediaError",
    "MediaInfo",
    "ProbeError",
    "VideoStream",
    "probe",
]
