"""`video-studio-transcoding` (studio edits), runner side: its payload shapes and processing step.

The payload (protocol.md §5.5) lists tasks in the user's order; each runs one ffmpeg
(`media/edition.py`) on the previous task's output, re-encoding at the input's own resolution
and frame rate, as the official runner does (runner.md §3.4). The whole job is read and checked
before any work starts, so an unknown task or a malformed option is an `UnsupportedJob` naming
the task, never a crash halfway. Progress is each task's ffmpeg progress mapped into its share
of 0–100 (the official runner only adds ⌊100 / #tasks⌋ after each task).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offload.domain.jobs import JobType
from offload.jobs.kind import JobKind, Work, no_update_payload, success_files
from offload.media.edition import (
    EditInput,
    cut_args,
    intro_outro_args,
    kept_intervals,
    remove_segments_args,
    watermark_args,
)
from offload.media.errors import MediaError, ProbeError, UnsupportedJob
from offload.media.ffmpeg import ffmpeg_command
from offload.media.ffmpeg_process import run_ffmpeg
from offload.media.probe import MediaInfo, probe

__all__ = ["KIND", "SUPPORTED_TASKS", "StudioJob", "Task", "edit_args", "read_studio_job"]

#: The task names this runner performs, in the official runner's order (0.6.0 adds the last).
SUPPORTED_TASKS = ("add-intro", "add-outro", "add-watermark", "cut", "remove-segments")


@dataclass(frozen=True, slots=True)
class Cut:
    start: float | None
    end: float | None


@dataclass(frozen=True, slots=True)
class IntroOutro:
    file_url: str
    outro: bool


@dataclass(frozen=True, slots=True)
class Watermark:
    file_url: str
    size_ratio: float
    horizontal_margin_ratio: float
    vertical_margin_ratio: float


@dataclass(frozen=True, slots=True)
class RemoveSegments:
    segments: tuple[tuple[float, float], ...]


Task = Cut | IntroOutro | Watermark | RemoveSegments


@dataclass(frozen=True, slots=True)
class StudioJob:
    """A checked studio payload: the inputs and the tasks, in order."""

    video_url: str
    audio_url: str | None
    tasks: tuple[Task, ...]


def read_studio_job(payload: dict[str, Any]) -> StudioJob:
    """Read and check the whole payload.

    Raises:
        UnsupportedJob: a missing input, no task, an unknown task or a malformed option; the
            message names the task.
    """
    try:
        inputs = payload["input"]
        video_url = str(inputs["videoFileUrl"])
        audio = inputs.get("separatedAudioFileUrl")
        # PeerTube sends a list (0 or 1 URL); older code paths a bare string.
        audio_url = str(audio[0] if isinstance(audio, list) else audio) if audio else None
        raw_tasks = payload["tasks"]
        if not isinstance(raw_tasks, list) or not raw_tasks:
            raise ValueError("tasks")
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise UnsupportedJob(
            f"malformed {JobType.STUDIO} payload: missing or invalid {exc}"
        ) from exc
    tasks = tuple(_task(index, raw) for index, raw in enumerate(raw_tasks, start=1))
    return StudioJob(video_url, audio_url, tasks)


def _task(index: int, raw: Any) -> Task:
    name = raw.get("name") if isinstance(raw, dict) else None
    if name not in SUPPORTED_TASKS:
        raise UnsupportedJob(
            f"studio task {index} {name!r} is not supported (supported: {', '.join(SUPPORTED_TASKS)})"
        )
    try:
        options = raw.get("options") or {}
        if not isinstance(options, dict):
            raise TypeError("options is not an object")
        if name == "cut":
            start, end = _seconds(options.get("start")), _seconds(options.get("end"))
            if start is not None and end is not None and end <= start:
                raise ValueError(f"end {end:g} s is not after start {start:g} s")
            return Cut(start, end)
        if name in ("add-intro", "add-outro"):
            return IntroOutro(_url(options), outro=name == "add-outro")
        if name == "add-watermark":
            # Servers before the typo fix send `horitonzalMarginRatio`.
            horizontal = options.get("horizontalMarginRatio", options.get("horitonzalMarginRatio"))
            return Watermark(
                _url(options),
                _ratio("watermarkSizeRatio", options.get("watermarkSizeRatio"), positive=True),
                _ratio("horizontalMarginRatio", horizontal),
                _ratio("verticalMarginRatio", options.get("verticalMarginRatio")),
            )
        return RemoveSegments(_segments(options.get("segments")))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UnsupportedJob(f"studio task {index} {name!r} has invalid options: {exc}") from exc


def _seconds(value: Any) -> float | None:
    """A time in seconds; old servers send strings. None (absent) for a missing value."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TypeError(f"{value!r} is not a number of seconds")
    seconds = float(value)
    if not 0 <= seconds < float("inf"):
        raise ValueError(f"{value!r} is not a number of seconds")
    return seconds


def _url(options: dict[str, Any]) -> str:
    url = options.get("file")
    if not isinstance(url, str) or not url:
        raise ValueError("the file URL is missing")
    return url


def _ratio(field: str, value: Any, positive: bool = False) -> float:
    if value is None or isinstance(value, bool):
        raise ValueError(f"{field} is missing")
    ratio = float(value)
    if not (0 < ratio <= 1 if positive else 0 <= ratio < 1):
        raise ValueError(f"{field} {value!r} is out of range")
    return ratio


def _segments(value: Any) -> tuple[tuple[float, float], ...]:
    if not isinstance(value, list) or not value:
        raise ValueError("segments must be a non-empty list")
    segments = []
    for segment in value:
        start, end = _seconds(segment.get("start")), _seconds(segment.get("end"))
        if start is None or end is None or end <= start:
            raise ValueError(f"segment {segment!r} needs a start before its end")
        segments.append((start, end))
    return tuple(segments)


# ---- the processing step ------------------------------------------------------------------


async def _studio(payload: dict[str, Any], work: Work) -> dict[str, Path]:
    job = read_studio_job(payload)
    work.workdir.mkdir(parents=True, exist_ok=True)
    video = await work.fetch(job.video_url)
    audio = await work.fetch(job.audio_url) if job.audio_url else None
    source = EditInput(
        video,
        await _probe_video(video),
        audio,
        await asyncio.to_thread(probe, audio) if audio else None,
    )
    reporter = _SlicedProgress(len(job.tasks), work.on_progress)
    previous: Path | None = None
    for index, task in enumerate(job.tasks):
        output = work.workdir / f"output-edition-{uuid.uuid4()}.mp4"
        args, duration_s = await edit_args(task, source, output, work)
        await run_ffmpeg(
            ffmpeg_command(work.ffmpeg, args),
            cwd=work.workdir,
            duration_s=duration_s,
            on_progress=reporter.slice(index),
            on_stats=work.on_stats,
        )
        if previous is not None:  # our own intermediate output; the inputs are the caller's
            with contextlib.suppress(OSError):
                await asyncio.to_thread(previous.unlink)
        previous = output
        if index < len(job.tasks) - 1:
            # The separate audio is only the first task's: its output carries the sound.
            source = EditInput(output, await _probe_video(output))
    assert previous is not None
    reporter.slice(len(job.tasks) - 1)(100)  # in case ffmpeg's last block went unseen
    return {"videoFile": previous}


async def edit_args(
    task: Task, source: EditInput, output: Path, work: Work
) -> tuple[list[str], float | None]:
    """The task's ffmpeg argv (without `ffmpeg_command`'s prefix) and the output duration its
    progress is measured against; fetches and probes the task's own file.

    Raises:
        ProbeError / MediaError: the task's file is not what it must be, or nothing would be
            left of the video."""
    duration = source.video_info.duration_s
    if isinstance(task, Cut):
        end = min(task.end, duration) if task.end and duration else (task.end or duration)
        expected = end - (task.start or 0) if end else None
        if expected is not None and expected <= 0:
            raise MediaError(
                f"cut: start {task.start:g} s is past the end of the {duration or 0:.1f} s video"
            )
        return cut_args(source, output, task.start, task.end, work.ffmpeg), expected
    if isinstance(task, IntroOutro):
        name = "add-outro" if task.outro else "add-intro"
        clip = await work.fetch(task.file_url)
        try:
            clip_info = await asyncio.to_thread(probe, clip)
        except ProbeError as exc:
            raise ProbeError(f"{name}: the clip is not a readable video: {exc}") from exc
        if clip_info.video is None:
            raise MediaError(f"{name}: the clip has no picture")
        args = intro_outro_args(
            source, clip, clip_info, output, outro=task.outro, options=work.ffmpeg
        )
        return args, (duration or 0) + (clip_info.duration_s or 0) or None
    if isinstance(task, Watermark):
        image = await work.fetch(task.file_url)
        await _check_image(image)
        args = watermark_args(
            source,
            image,
            output,
            size_ratio=task.size_ratio,
            horizontal_margin_ratio=task.horizontal_margin_ratio,
            vertical_margin_ratio=task.vertical_margin_ratio,
            options=work.ffmpeg,
        )
        return args, duration
    if not duration:
        raise MediaError("remove-segments: the video has no known duration")
    kept = kept_intervals(list(task.segments), duration)
    if not kept:
        raise MediaError(
            f"remove-segments: the segments cover the whole {duration:.1f} s video; nothing would be left"
        )
    return remove_segments_args(source, kept, output, work.ffmpeg), sum(e - s for s, e in kept)


async def _probe_video(path: Path) -> MediaInfo:
    info = await asyncio.to_thread(probe, path)
    if info.video is None:
        raise MediaError(f"{path.name}: a studio edit needs a video with a picture")
    return info


async def _check_image(path: Path) -> None:
    """The watermark must be a picture: one frame of video, no sound."""
    try:
        info = await asyncio.to_thread(probe, path)
    except ProbeError as exc:
        raise MediaError(f"add-watermark: the watermark file is not an image: {exc}") from exc
    if info.video is None or info.audio is not None:
        raise MediaError("add-watermark: the watermark file is not an image")


class _SlicedProgress:
    """Task i of n owns [100·i/n, 100·(i+1)/n): its ffmpeg percent is mapped into that slice,
    and only rising whole percents reach the job's `on_progress`."""

    def __init__(self, tasks: int, on_progress: Callable[[int], None]) -> None:
        self._tasks = tasks
        self._on_progress = on_progress
        self._last = -1

    def slice(self, index: int) -> Callable[[int], None]:
        def report(task_percent: int) -> None:
            overall = (index * 100 + task_percent) // self._tasks
            if overall > self._last:
                self._last = overall
                self._on_progress(overall)

        return report


KIND = JobKind(JobType.STUDIO, success_files("videoFile"), no_update_payload, _studio)
