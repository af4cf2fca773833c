"""The three VOD transcoding types, instance side: what each output must carry, where it goes
in the media tree, and what else its completion deletes. The shared steps (probe, decode,
rows, master playlist, video state) are `instance/completion.py`'s `RenditionCompletion`.

Instance only: the runner never imports this module (it reaches the database).
"""

from __future__ import annotations

import asyncio
import uuid as uuidlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from offload.domain.errors import OutputRefused
from offload.domain.jobs import Job, JobType
from offload.domain.videos import Video, VideoFile
from offload.instance.completion import Expected, Placed, Rendition, RenditionCompletion
from offload.instance.results import CompletionFactory, JobHandler, PostedPayload
from offload.instance.videos import VideoService, file_values
from offload.media.playlists import PlaylistError, parse_resolution_playlist
from offload.media.probe import MediaInfo

__all__ = ["COMPLETIONS", "AudioMerge", "Hls", "WebVideo"]


def _output(job: Job) -> dict[str, Any]:
    output = job.payload.get("output")
    return dict(output) if isinstance(output, dict) else {}


def _deleted_input(job: Job, kept: list[VideoFile]) -> set[int]:
    """The uploaded file the parent job (optimize, audio merge) replaces, named by the ladder."""
    delete_input = job.private_payload.get("deleteInputFileId")
    return {f.id for f in kept if f.id == delete_input} if isinstance(delete_input, int) else set()


async def _place_web(
    videos: VideoService, video: Video, result: PostedPayload, info: MediaInfo, now: datetime
) -> Placed:
    filename = f"{uuidlib.uuid4()}-{info.resolution}.mp4"
    target = videos.storage.web_dir / filename
    await videos.forget_later([target])
    await asyncio.to_thread(videos.storage.place, result.files["videoFile"], target)
    values = await asyncio.to_thread(
        file_values, info, target, kind="web", filename=filename, video_id=video.id, now=now
    )
    return Placed(values, [target])


def _rendition_expected(job: Job, video: Video) -> Expected:
    """A picture at the resolution asked (none for 0p), and the video's sound unless it is
    split off into its own rendition."""
    output = _output(job)
    resolution = int(output.get("resolution", 0))
    return Expected(
        resolution,
        video=resolution > 0,
        audio=resolution == 0 or (video.has_audio and not output.get("separatedAudio")),
    )


class WebVideo:
    """`vod-web-video-transcoding`: an MP4 rendition (the optimize job at the top)."""

    takes_duration = False

    def expected(self, job: Job, video: Video) -> Expected:
        return _rendition_expected(job, video)

    async def place(
        self,
        videos: VideoService,
        job: Job,
        video: Video,
        result: PostedPayload,
        info: MediaInfo,
        now: datetime,
    ) -> Placed:
        return await _place_web(videos, video, result, info, now)

    def also_removes(self, job: Job, video: Video, kept: list[VideoFile]) -> set[int]:
        return _deleted_input(job, kept)


class AudioMerge(WebVideo):
    """`vod-audio-merge-transcoding`: an audio upload looped over its preview, as an MP4 (placed
    as a web video is), whose duration becomes the video's."""

    takes_duration = True

    def expected(self, job: Job, video: Video) -> Expected:
        return Expected(
            int(_output(job).get("resolution", 0)), video=True, audio=True, still_picture=True
        )


class Hls:
    """`vod-hls-transcoding`: a fragmented MP4 and its resolution playlist."""

    takes_duration = False

    def expected(self, job: Job, video: Video) -> Expected:
        return _rendition_expected(job, video)

    async def place(
        self,
        videos: VideoService,
        job: Job,
        video: Video,
        result: PostedPayload,
        info: MediaInfo,
        now: datetime,
    ) -> Placed:
        source, playlist_source = result.files["videoFile"], result.files["resolutionPlaylistFile"]
        base = f"{uuidlib.uuid4()}-{info.resolution}"
        filename, playlist_name = f"{base}-fragmented.mp4", f"{base}.m3u8"
        size = source.stat().st_size
        try:
            text = await asyncio.to_thread(playlist_source.read_text, "utf-8")
            playlist = parse_resolution_playlist(text, size, filename)
        except (PlaylistError, UnicodeDecodeError) as exc:
            raise OutputRefused(f"the resolution playlist is invalid: {exc}") from exc
        directory = videos.storage.hls_dir(video.uuid)
        target, playlist_target = directory / filename, directory / playlist_name
        await videos.forget_later([target, playlist_target])
        await asyncio.to_thread(videos.storage.place, source, target)
        await asyncio.to_thread(videos.storage.write_text, playlist_target, playlist.text)
        values = await asyncio.to_thread(
            file_values,
            info,
            target,
            kind="hls",
            filename=filename,
            video_id=video.id,
            now=now,
            playlist_filename=playlist_name,
        )
        return Placed(values, [target, playlist_target])

    def also_removes(self, job: Job, video: Video, kept: list[VideoFile]) -> set[int]:
        """The web files, once HLS stands alone, when the ladder says web videos are off."""
        if job.private_payload.get("deleteWebVideoFiles") is True and _hls_can_stand_alone(
            video, kept
        ):
            return {f.id for f in kept if f.kind == "web"}
        return set()


def _hls_can_stand_alone(video: Video, files: list[VideoFile]) -> bool:
    """Web files may go once HLS carries a picture and, if the video has sound, sound too;
    with split audio the two HLS jobs can finish in either order."""
    hls = [f for f in files if f.kind == "hls"]
    has_picture = any(f.has_video for f in hls) or not video.has_video
    has_sound = any(f.has_audio for f in hls) or not video.has_audio
    return has_picture and has_sound


def _completion(rendition: Rendition) -> CompletionFactory:
    def build(
        videos: VideoService, now: Callable[[], datetime], on_change: Callable[[], None]
    ) -> JobHandler:
        handler = RenditionCompletion(videos, now, rendition)
        handler.on_change = on_change
        return handler

    return build


COMPLETIONS: dict[JobType, CompletionFactory] = {
    JobType.VOD_WEB_VIDEO: _completion(WebVideo()),
    JobType.VOD_HLS: _completion(Hls()),
    JobType.VOD_AUDIO_MERGE: _completion(AudioMerge()),
}
