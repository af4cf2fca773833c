"""Job processors: payload in, output files out. Shared by the runner and local workers.

`process_job` fetches the inputs named in a PeerTube-shaped payload through the caller's
`fetch`, probes them, builds the ffmpeg argv (`ffmpeg.py`), runs ffmpeg in its own process
group and returns the success files by their protocol field name (`videoFile`,
`resolutionPlaylistFile`). Uploading them and deleting `workdir` is the caller's business.

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
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offload.media.errors import FfmpegError, UnsupportedJob
from offload.media.ffmpeg import (
    FfmpegOptions,
    audio_merge_args,
    can_copy_for_hls,
    ffmpeg_command,
    hls_args,
    web_video_args,
)
from offload.media.probe import MediaInfo, probe
from offload.media.progress import FfmpegProgress, ProgressReader, percent

__all__ = ["SUPPORTED_JOB_TYPES", "Fetch", "OnProgress", "OnStats", "aac_encoder", "process_job", "run_ffmpeg"]

log = logging.getLogger(__name__)

Fetch = Callable[[str], Awaitable[Path]]
OnProgress = Callable[[int], None]
OnStats = Callable[[FfmpegProgress], None]

SUPPORTED_JOB_TYPES = ("vod-web-video-transcoding", "vod-hls-transcoding", "vod-audio-merge-transcoding")

_STDERR_TAIL_LINES = 12
_STDERR_TAIL_CHARS = 3000  # the protocol caps error messages at 5000 characters


@dataclass(frozen=True)
class _Report:
    progress: OnProgress
    stats: OnStats | None


@dataclass(frozen=True)
class _Params:
    """What a VOD payload asks for, read and checked before any work starts. `main_url` is the
    video file, or the audio file of an audio merge."""

    main_url: str
    audio_url: str | None
    resolution: int
    fps: int
    separated_audio: bool = False
    preview_url: str | None = None


def _params(job_type: str, payload: dict[str, Any]) -> _Params:
    try:
        inputs, output = payload["input"], payload["output"]
        resolution, fps = int(output["resolution"]), int(output["fps"])
        if job_type == "vod-audio-merge-transcoding":
            return _Params(str(inputs["audioFileUrl"]), None, resolution, fps, preview_url=str(inputs["previewFileUrl"]))
        main_url = str(inputs["videoFileUrl"])
        # For the audio-only rendition PeerTube repeats the audio URL as the separated audio:
        # one input is enough (the official runner downloads and passes the same file twice).
        audio_url = next((str(u) for u in inputs.get("separatedAudioFileUrl") or [] if u != main_url), None)
        return _Params(main_url, audio_url, resolution, fps, bool(output.get("separatedAudio", False)))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UnsupportedJob(f"malformed {job_type} payload: missing or invalid {exc}") from exc


async def process_job(
    job_type: str,
    payload: dict[str, Any],
    *,
    workdir: Path,
    fetch: Fetch,
    on_progress: OnProgress,
    ffmpeg: FfmpegOptions,
    on_stats: OnStats | None = None,
) -> dict[str, Path]:
    """Run the job and return its success files by field name.

    `on_progress` gets whole percents as they change; `on_stats`, if given, every raw progress
    block (output time, speed × real time) for operator views.

    Raises:
        UnsupportedJob: no processor for `job_type`, or the payload lacks what it needs.
        ProbeError: an input is not audio/video.
        FfmpegError: ffmpeg failed; the message ends with its last stderr lines.
    """
    processors = {"vod-web-video-transcoding": _web_video, "vod-hls-transcoding": _hls, "vod-audio-merge-transcoding": _audio_merge}
    processor = processors.get(job_type)
    if processor is None:
        raise UnsupportedJob(f"job type {job_type!r} is not supported (supported: {', '.join(SUPPORTED_JOB_TYPES)})")
    params = _params(job_type, payload)
    workdir.mkdir(parents=True, exist_ok=True)
    return await processor(params, workdir, fetch, _Report(on_progress, on_stats), ffmpeg)


async def _inputs(params: _Params, fetch: Fetch) -> tuple[Path, MediaInfo, Path | None, MediaInfo | None]:
    video = await fetch(params.main_url)
    video_info = await asyncio.to_thread(probe, video)
    if params.audio_url is None:
        return video, video_info, None, None
    audio = await fetch(params.audio_url)
    return video, video_info, audio, await asyncio.to_thread(probe, audio)


async def _web_video(params: _Params, workdir: Path, fetch: Fetch, report: _Report, options: FfmpegOptions) -> dict[str, Path]:
    video, video_info, audio, audio_info = await _inputs(params, fetch)
    output = workdir / f"output-{uuid.uuid4()}.mp4"
    args = web_video_args(
        video_input=video,
        video_info=video_info,
        audio_input=audio,
        audio_info=audio_info,
        output=output,
        resolution=params.resolution,
        fps=params.fps,
        options=options,
    )
    await run_ffmpeg(ffmpeg_command(options, args), cwd=workdir, duration_s=video_info.duration_s, on_progress=report.progress, on_stats=report.stats)
    return {"videoFile": output}


async def _hls(params: _Params, workdir: Path, fetch: Fetch, report: _Report, options: FfmpegOptions) -> dict[str, Path]:
    video, video_info, audio, audio_info = await _inputs(params, fetch)
    name = f"{uuid.uuid4()}-{params.resolution}"
    playlist = workdir / f"{name}.m3u8"
    segment = workdir / f"{name}-fragmented.mp4"
    args = hls_args(
        video_input=video,
        video_info=video_info,
        audio_input=audio,
        audio_info=audio_info,
        playlist=playlist,
        segment=segment,
        resolution=params.resolution,
        fps=params.fps,
        separated_audio=params.separated_audio,
        copy_codecs=can_copy_for_hls(video_info, params.resolution, params.fps),
        options=options,
    )
    await run_ffmpeg(ffmpeg_command(options, args), cwd=workdir, duration_s=video_info.duration_s, on_progress=report.progress, on_stats=report.stats)
    _fix_playlist_map(playlist, segment)
    return {"resolutionPlaylistFile": playlist, "videoFile": segment}


async def _audio_merge(params: _Params, workdir: Path, fetch: Fetch, report: _Report, options: FfmpegOptions) -> dict[str, Path]:
    assert params.preview_url is not None
    audio = await fetch(params.main_url)
    audio_info = await asyncio.to_thread(probe, audio)
    image = await fetch(params.preview_url)
    output = workdir / f"output-{uuid.uuid4()}.mp4"
    args = audio_merge_args(
        image_input=image,
        audio_input=audio,
        audio_info=audio_info,
        output=output,
        resolution=params.resolution,
        fps=params.fps,
        options=options,
    )
    # Progress against the audio's duration (the official runner measures against the looped
    # image, which has none, so it never reports any).
    await run_ffmpeg(ffmpeg_command(options, args), cwd=workdir, duration_s=audio_info.duration_s, on_progress=report.progress, on_stats=report.stats)
    return {"videoFile": output}


def _fix_playlist_map(playlist: Path, segment: Path) -> None:
    """Some ffmpeg versions write the init-segment URI as the absolute path: keep the bare name,
    which is what the instance serves next to the playlist."""
    text = playlist.read_text()
    fixed = text.replace(f'#EXT-X-MAP:URI="{segment}"', f'#EXT-X-MAP:URI="{segment.name}"')
    if fixed != text:
        playlist.write_text(fixed)


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


async def _read_progress(stream: asyncio.StreamReader | None, duration_s: float | None, on_progress: OnProgress, on_stats: OnStats | None) -> None:
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


async def aac_encoder(ffmpeg_path: str) -> str:
    """`libfdk_aac` when this ffmpeg build has it (the official runner prefers it), else `aac`."""
    process = await asyncio.create_subprocess_exec(
        ffmpeg_path, "-hide_banner", "-encoders", stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    stdout, _ = await process.communicate()
    return "libfdk_aac" if any(line.split()[1:2] == ["libfdk_aac"] for line in stdout.decode(errors="replace").splitlines()) else "aac"
