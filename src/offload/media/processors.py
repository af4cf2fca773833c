"""A job's processing step, run through the job-type registry (`offload.jobs.registry`):
payload in, success files and text fields by protocol field name out. Shared by the runner and the local
workers; uploading the files and deleting `workdir` is the caller's business.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from offload.jobs.kind import Fetch, Output, Work
from offload.jobs.registry import BUILTIN_KINDS, JobKinds
from offload.media.ffmpeg import FfmpegOptions
from offload.media.ffmpeg_process import OnProgress, OnStats

__all__ = ["SUPPORTED_JOB_TYPES", "aac_encoder", "process_job"]

#: The types the built-in registry can process: what a runner takes unless told otherwise.
SUPPORTED_JOB_TYPES = BUILTIN_KINDS.processable


async def process_job(
    job_type: str,
    payload: dict[str, Any],
    *,
    workdir: Path,
    fetch: Fetch,
    on_progress: OnProgress,
    ffmpeg: FfmpegOptions,
    on_stats: OnStats | None = None,
    kinds: JobKinds = BUILTIN_KINDS,
) -> Output:
    """Run the job with its type's processing step in `kinds` (see `JobKinds.process`).

    `on_progress` gets whole percents as they change; `on_stats`, if given, every raw progress
    block (output time, speed × real time) for operator views.
    """
    return await kinds.process(
        job_type, payload, Work(workdir, fetch, on_progress, ffmpeg, on_stats)
    )


async def aac_encoder(ffmpeg_path: str) -> str:
    """`libfdk_aac` when this ffmpeg build has it (the official runner prefers it), else `aac`."""
    process = await asyncio.create_subprocess_exec(
        ffmpeg_path,
        "-hide_banner",
        "-encoders",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    stdout, _ = await process.communicate()
    return (
        "libfdk_aac"
        if any(
            line.split()[1:2] == ["libfdk_aac"]
            for line in stdout.decode(errors="replace").splitlines()
        )
        else "aac"
    )
