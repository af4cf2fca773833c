"""ffmpeg in its own process group, with progress read from `-progress pipe:1`: what every
processing step runs its argv (`ffmpeg.py`) with.

Cancellation is immediate: cancelling the task kills ffmpeg's whole process group before the
`CancelledError` propagates, so no encoder outlives its job.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

from offload.media.errors import FfmpegError
from offload.media.progress import FfmpegProgress, ProgressReader, percent

__all__ = ["OnProgress", "OnStats", "run_ffmpeg"]

log = logging.getLogger(__name__)

OnProgress = Callable[[int], None]
OnStats = Callable[[FfmpegProgress], None]

_STDERR_TAIL_LINES = 12
_STDERR_TAIL_CHARS = 3000  # the protocol caps error messages at 5000 characters


async def run_ffmpeg(
    argv: list[str],
    *,
    cwd: Path,
    duration_s: float | None,
    on_progress: OnProgress,
    on_stats: OnStats | None = None,
) -> None:
    """Run ffmpeg (argv from `ffmpeg_command`) in its own process group, reporting progress.

    Raises:
        FfmpegError: non-zero exit, with the tail of stderr.
        asyncio.CancelledError: after killing the process group.
    """
    log.debug("running %s", " ".join(argv))
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        # A session of its own: one killpg reaches `nice` and ffmpeg, and a Ctrl-C in the
        # runner's terminal does not hit ffmpeg before the runner decides what to do.
        start_new_session=True,
    )
    tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
    try:
        await asyncio.gather(
            _read_progress(process.stdout, duration_s, on_progress, on_stats),
            _read_stderr(process.stderr, tail),
        )
        returncode = await process.wait()
    except BaseException:
        _kill_group(process)
        with contextlib.suppress(Exception):
            await asyncio.shield(process.wait())
        raise
    if returncode != 0:
        raise FfmpegError(returncode, "\n".join(tail)[-_STDERR_TAIL_CHARS:])


def _kill_group(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


async def _read_progress(
    stream: asyncio.StreamReader | None,
    duration_s: float | None,
    on_progress: OnProgress,
    on_stats: OnStats | None,
) -> None:
    if stream is None:
        return
    reader = ProgressReader()
    last: int | None = None
    async for raw in stream:
        block = reader.feed(raw.decode(errors="replace"))
        if block is None:
            continue
        if on_stats is not None:
            on_stats(block)
        value = percent(block, duration_s)
        if value is not None and value != last:
            last = value
            on_progress(value)


async def _read_stderr(stream: asyncio.StreamReader | None, tail: collections.deque[str]) -> None:
    if stream is None:
        return
    async for raw in stream:
        line = raw.decode(errors="replace").rstrip()
        if line:
            tail.append(line)
