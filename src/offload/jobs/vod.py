"""The three VOD transcoding types, runner side: their payload shapes and processing steps
(PeerTube's `vod-web-video-transcoding`, `vod-hls-transcoding`, `vod-audio-merge-transcoding`).

Each step fetches the inputs its payload names, probes them, builds the ffmpeg argv
(`media/ffmpeg.py`) reproducing the official runner's settings and runs it. How the instance
creates these jobs is the upload ladder (`domain/ladder.py`); how it checks and stores what
comes back is `vod_completion.py`.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offload.domain.jobs import JobType
from offload.jobs.kind import Fetch, JobKind, Work, no_update_payload, success_files
from offload.media.errors import UnsupportedJob
from offload.media.ffmpeg import (
    audio_merge_args,
    can_copy_for_hls,
    ffmpeg_command,
    hls_args,
    web_video_args,
)
from offload.media.ffmpeg_process import run_ffmpeg
from offload.media.probe import MediaInfo, probe

__all__ = ["AUDIO_MERGE", "HLS", "KINDS", "WEB_VIDEO"]


@dataclass(frozen=True, slots=True)
class _Rendition:
    """What a web-video or HLS payload asks for, read and checked before any work starts."""

    video_url: str
    audio_url: str | None
    resolution: int
    fps: int
    separated_audio: bool


@dataclass(frozen=True, slots=True)
class _Merge:
    """What an audio-merge payload asks for: the audio file looped over the preview image."""

    audio_url: str
    preview_url: str
    resolution: int
    fps: int


def _malformed(job_type: JobType, exc: Exception) -> UnsupportedJob:
    return UnsupportedJob(f"malformed {job_type} payload: missing or invalid {exc}")


_BAD_PAYLOAD = (KeyError, TypeError, ValueError, AttributeError)


def _rendition(job_type: JobType, payload: dict[str, Any]) -> _Rendition:
    try:
        inputs, output = payload["input"], payload["output"]
        resolution, fps = int(output["resolution"]), int(output["fps"])
        video_url = str(inputs["videoFileUrl"])
        # For the audio-only rendition PeerTube repeats the audio URL as the separated audio:
        # one input is enough (the official runner downloads and passes the same file twice).
        audio_url = next(
            (str(u) for u in inputs.get("separatedAudioFileUrl") or [] if u != video_url), None
        )
        return _Rendition(
            video_url, audio_url, resolution, fps, bool(output.get("separatedAudio", False))
        )
    except _BAD_PAYLOAD as exc:
        raise _malformed(job_type, exc) from exc


def _merge(payload: dict[str, Any]) -> _Merge:
    try:
        inputs, output = payload["input"], payload["output"]
        return _Merge(
            str(inputs["audioFileUrl"]),
            str(inputs["previewFileUrl"]),
            int(output["resolution"]),
            int(output["fps"]),
        )
    except _BAD_PAYLOAD as exc:
        raise _malformed(JobType.VOD_AUDIO_MERGE, exc) from exc


async def _inputs(
    params: _Rendition, fetch: Fetch
) -> tuple[Path, MediaInfo, Path | None, MediaInfo | None]:
    video = await fetch(params.video_url)
    video_info = await asyncio.to_thread(probe, video)
    if params.audio_url is None:
        return video, video_info, None, None
    audio = await fetch(params.audio_url)
    return video, video_info, audio, await asyncio.to_thread(probe, audio)


async def _web_video(payload: dict[str, Any], work: Work) -> dict[str, Path]:
    params = _rendition(JobType.VOD_WEB_VIDEO, payload)
    work.workdir.mkdir(parents=True, exist_ok=True)
    video, video_info, audio, audio_info = await _inputs(params, work.fetch)
    output = work.workdir / f"output-{uuid.uuid4()}.mp4"
    args = web_video_args(
        video_input=video,
        video_info=video_info,
        audio_input=audio,
        audio_info=audio_info,
        output=output,
        resolution=params.resolution,
        fps=params.fps,
        options=work.ffmpeg,
    )
    await _run(args, work, video_info.duration_s)
    return {"videoFile": output}


async def _hls(payload: dict[str, Any], work: Work) -> dict[str, Path]:
    params = _rendition(JobType.VOD_HLS, payload)
    work.workdir.mkdir(parents=True, exist_ok=True)
    video, video_info, audio, audio_info = await _inputs(params, work.fetch)
    name = f"{uuid.uuid4()}-{params.resolution}"
    playlist = work.workdir / f"{name}.m3u8"
    segment = work.workdir / f"{name}-fragmented.mp4"
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
        options=work.ffmpeg,
    )
    await _run(args, work, video_info.duration_s)
    _fix_playlist_map(playlist, segment)
    return {"resolutionPlaylistFile": playlist, "videoFile": segment}


async def _audio_merge(payload: dict[str, Any], work: Work) -> dict[str, Path]:
    params = _merge(payload)
    work.workdir.mkdir(parents=True, exist_ok=True)
    audio = await work.fetch(params.audio_url)
    audio_info = await asyncio.to_thread(probe, audio)
    image = await work.fetch(params.preview_url)
    output = work.workdir / f"output-{uuid.uuid4()}.mp4"
    args = audio_merge_args(
        image_input=image,
        audio_input=audio,
        audio_info=audio_info,
        output=output,
        resolution=params.resolution,
        fps=params.fps,
        options=work.ffmpeg,
    )
    # Progress against the audio's duration (the official runner measures against the looped
    # image, which has none, so it never reports any).
    await _run(args, work, audio_info.duration_s)
    return {"videoFile": output}


async def _run(args: list[str], work: Work, duration_s: float | None) -> None:
    argv = ffmpeg_command(work.ffmpeg, args)
    await run_ffmpeg(
        argv,
        cwd=work.workdir,
        duration_s=duration_s,
        on_progress=work.on_progress,
        on_stats=work.on_stats,
    )


def _fix_playlist_map(playlist: Path, segment: Path) -> None:
    """Some ffmpeg versions write the init-segment URI as the absolute path: keep the bare name,
    which is what the instance serves next to the playlist."""
    text = playlist.read_text()
    fixed = text.replace(f'#EXT-X-MAP:URI="{segment}"', f'#EXT-X-MAP:URI="{segment.name}"')
    if fixed != text:
        playlist.write_text(fixed)


WEB_VIDEO = JobKind(
    JobType.VOD_WEB_VIDEO, success_files("videoFile"), no_update_payload, _web_video
)
HLS = JobKind(
    JobType.VOD_HLS, success_files("videoFile", "resolutionPlaylistFile"), no_update_payload, _hls
)
AUDIO_MERGE = JobKind(
    JobType.VOD_AUDIO_MERGE, success_files("videoFile"), no_update_payload, _audio_merge
)
#: In the order a runner advertises them (the official runner's).
KINDS = (WEB_VIDEO, HLS, AUDIO_MERGE)
