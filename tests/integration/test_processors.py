"""Job processors run the real ffmpeg on tiny clips; outputs are probed with PyAV."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import av
import pytest

from offload.media import FfmpegError, ProbeError, probe
from offload.media.errors import UnsupportedJob
from offload.media.ffmpeg import FfmpegOptions, ffmpeg_command, resolve_ffmpeg_path
from offload.media.ffmpeg_process import run_ffmpeg
from offload.media.processors import process_job
from tests.media import (
    Clips,
    frame_count,
    processes_mentioning,
    shared_clips,
    top_level_boxes,
    video_duration_s,
)


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Clips:
    """The session's lazily generated clips."""
    return shared_clips(tmp_path_factory)


# threads 1 and no renicing: the test machine is small and shared.
OPTIONS = FfmpegOptions(path=resolve_ffmpeg_path(), threads=1, nice=0)


def _payload(
    url: str, resolution: int, fps: int, audio_url: str | None = None, **output: Any
) -> dict[str, Any]:
    return {
        "input": {"videoFileUrl": url, "separatedAudioFileUrl": [audio_url] if audio_url else []},
        "output": {"resolution": resolution, "fps": fps, **output},
    }


async def _run(
    job_type: str,
    payload: dict[str, Any],
    workdir: Path,
    progress: list[int] | None = None,
    options: FfmpegOptions = OPTIONS,
) -> dict[str, Path]:
    fetched: list[str] = []

    async def fetch(url: str) -> Path:
        fetched.append(url)
        return Path(url)

    return await process_job(
        job_type,
        payload,
        workdir=workdir,
        fetch=fetch,
        on_progress=(progress if progress is not None else []).append,
        ffmpeg=options,
    )


class TestWebVideo:
    async def test_downscaled_mp4_has_the_target_shape(self, clips: Clips, tmp_path: Path) -> None:
        """144p/25 from a 240p clip: 192x144 H.264 + AAC, same duration, moov before mdat."""
        progress: list[int] = []

        files = await _run(
            "vod-web-video-transcoding", _payload(str(clips.av), 144, 25), tmp_path, progress
        )

        info = probe(files["videoFile"])
        assert ["videoFile"] == list(files)
        assert ("h264", 192, 144, 25.0, "yuv420p") == (
            info.video.codec,
            info.video.width,
            info.video.height,
            info.video.fps,
            info.video.pix_fmt,
        )  # type: ignore[union-attr]
        assert "aac" == info.audio.codec  # type: ignore[union-attr]
        assert abs(1.0 - (info.duration_s or 0)) <= 0.1
        boxes = top_level_boxes(files["videoFile"])
        assert boxes.index("moov") < boxes.index("mdat")
        assert 100 == progress[-1]

    async def test_frame_rate_is_changed_by_the_fps_filter(
        self, clips: Clips, tmp_path: Path
    ) -> None:
        """A 25 fps source asked at 15 fps gives 15 frames a second."""
        files = await _run("vod-web-video-transcoding", _payload(str(clips.av), 240, 15), tmp_path)

        info = probe(files["videoFile"])
        assert (15.0, 320, 240) == (info.video.fps, info.video.width, info.video.height)  # type: ignore[union-attr]
        assert abs(1.0 - video_duration_s(files["videoFile"])) <= 0.1

    async def test_rotated_phone_video_keeps_its_portrait_shape(
        self, clips: Clips, tmp_path: Path
    ) -> None:
        """A 90°-rotated source scales on its displayed short side: 144x192, not 192x144."""
        files = await _run(
            "vod-web-video-transcoding", _payload(str(clips.rotated), 144, 25), tmp_path
        )

        info = probe(files["videoFile"])
        assert (144, 192) == (info.video.width, info.video.height)  # type: ignore[union-attr]

    async def test_vp9_webm_becomes_h264_aac(self, clips: Clips, tmp_path: Path) -> None:
        """A VP9/Opus upload is transcoded (Opus is re-encoded to stereo AAC)."""
        files = await _run(
            "vod-web-video-transcoding", _payload(str(clips.vp9_webm), 240, 25), tmp_path
        )

        info = probe(files["videoFile"])
        assert ("h264", "aac", 2) == (info.video.codec, info.audio.codec, info.audio.channels)  # type: ignore[union-attr]

    async def test_separate_audio_file_is_muxed_in(self, clips: Clips, tmp_path: Path) -> None:
        """Video-only file + split audio file → one MP4 with both."""
        files = await _run(
            "vod-web-video-transcoding",
            _payload(str(clips.video_only), 144, 25, str(clips.audio_only)),
            tmp_path,
        )

        info = probe(files["videoFile"])
        assert (True, True) == (info.has_video, info.has_audio)


class TestHls:
    async def test_reencoded_rendition_is_a_valid_fmp4_playlist(
        self, clips: Clips, tmp_path: Path
    ) -> None:
        """144p: a VOD playlist with byte ranges into one fragmented MP4 named by its bare name."""
        files = await _run(
            "vod-hls-transcoding", _payload(str(clips.av), 144, 25, separatedAudio=False), tmp_path
        )

        playlist = files["resolutionPlaylistFile"].read_text()
        segment = files["videoFile"]
        assert re.fullmatch(r"[0-9a-f-]{36}-144\.m3u8", files["resolutionPlaylistFile"].name)
        assert f"{files['resolutionPlaylistFile'].stem}-fragmented.mp4" == segment.name
        assert playlist.startswith("#EXTM3U")
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in playlist and "#EXT-X-ENDLIST" in playlist
        assert f'#EXT-X-MAP:URI="{segment.name}"' in playlist
        assert "#EXT-X-BYTERANGE:" in playlist
        assert "moof" in top_level_boxes(segment)
        info = probe(segment)
        assert ("h264", 192, 144, 25.0, "aac") == (
            info.video.codec,
            info.video.width,
            info.video.height,
            info.video.fps,
            info.audio.codec,
        )  # type: ignore[union-attr]
        assert abs(1.0 - video_duration_s(segment)) <= 0.1

    async def test_copy_path_keeps_the_source_stream(self, clips: Clips, tmp_path: Path) -> None:
        """At the source's own resolution and fps the H.264 stream is copied, not re-encoded."""
        files = await _run(
            "vod-hls-transcoding", _payload(str(clips.av), 240, 25, separatedAudio=False), tmp_path
        )

        with av.open(str(clips.av)) as source, av.open(str(files["videoFile"])) as output:
            source_extradata = source.streams.video[0].codec_context.extradata
            output_extradata = output.streams.video[0].codec_context.extradata
        assert source_extradata == output_extradata
        assert frame_count(clips.av) == frame_count(files["videoFile"])

    async def test_separated_audio_splits_video_and_audio_renditions(
        self, clips: Clips, tmp_path: Path
    ) -> None:
        """separatedAudio: the 144p rendition has no audio, the resolution-0 one no video."""
        video = await _run(
            "vod-hls-transcoding",
            _payload(str(clips.av), 144, 25, separatedAudio=True),
            tmp_path / "v",
        )
        audio_url = str(clips.audio_only)
        audio = await _run(
            "vod-hls-transcoding",
            _payload(audio_url, 0, 0, audio_url, separatedAudio=True),
            tmp_path / "a",
        )

        video_info, audio_info = probe(video["videoFile"]), probe(audio["videoFile"])
        assert (True, False) == (video_info.has_video, video_info.has_audio)
        assert (False, True) == (audio_info.has_video, audio_info.has_audio)


class TestAudioMerge:
    async def test_preview_image_over_audio(self, clips: Clips, tmp_path: Path) -> None:
        """480p/25 video of the still image, as long as the audio, AAC kept."""
        payload = {
            "input": {"audioFileUrl": str(clips.audio_only), "previewFileUrl": str(clips.image)},
            "output": {"resolution": 480, "fps": 25},
        }

        files = await _run("vod-audio-merge-transcoding", payload, tmp_path)

        info = probe(files["videoFile"])
        assert ("h264", 640, 480, 25.0, "aac") == (
            info.video.codec,
            info.video.width,
            info.video.height,
            info.video.fps,
            info.audio.codec,
        )  # type: ignore[union-attr]
        # The file lasts as long as the audio. (With `-shortest` ffmpeg drops the frames still in
        # x264's lookahead when the audio ends, so the picture track alone is a little shorter;
        # the official runner's identical command does the same.)
        assert abs(1.0 - (info.duration_s or 0)) <= 0.1

    async def test_cover_art_does_not_replace_the_preview(
        self, clips: Clips, tmp_path: Path
    ) -> None:
        """An MP3's 64x64 cover is ignored: the picture is the 320x240 preview, scaled."""
        payload = {
            "input": {
                "audioFileUrl": str(clips.mp3_with_cover),
                "previewFileUrl": str(clips.image),
            },
            "output": {"resolution": 240, "fps": 25},
        }

        files = await _run("vod-audio-merge-transcoding", payload, tmp_path)

        info = probe(files["videoFile"])
        assert (320, 240) == (info.video.width, info.video.height)  # type: ignore[union-attr]


class TestFailures:
    async def test_corrupt_input_is_a_probe_error(self, clips: Clips, tmp_path: Path) -> None:
        """Garbage bytes fail before ffmpeg with libav's reason."""
        with pytest.raises(ProbeError) as caught:
            await _run("vod-web-video-transcoding", _payload(str(clips.corrupt), 144, 25), tmp_path)

        assert "Invalid data found when processing input" in str(caught.value)

    async def test_ffmpeg_failure_carries_its_stderr(self, clips: Clips, tmp_path: Path) -> None:
        """An encoder this build lacks: FfmpegError with ffmpeg's own words."""
        broken = FfmpegOptions(path=OPTIONS.path, threads=1, nice=0, audio_encoder="libfdk_aac")

        with pytest.raises(FfmpegError) as caught:
            await _run(
                "vod-web-video-transcoding",
                _payload(str(clips.av), 144, 25),
                tmp_path,
                options=broken,
            )

        assert caught.value.returncode != 0
        assert "libfdk_aac" in str(caught.value)

    async def test_unsupported_type(self, tmp_path: Path) -> None:
        """Live jobs are refused with a readable reason."""
        with pytest.raises(UnsupportedJob) as caught:
            await _run("live-rtmp-hls-transcoding", {}, tmp_path)

        assert "live-rtmp-hls-transcoding" in str(caught.value)

    async def test_malformed_payload(self, tmp_path: Path) -> None:
        """A payload without its input URL is refused before any work, naming the missing key."""
        with pytest.raises(UnsupportedJob) as caught:
            await _run(
                "vod-hls-transcoding",
                {"input": {}, "output": {"resolution": 240, "fps": 25}},
                tmp_path,
            )

        assert "videoFileUrl" in str(caught.value)

    async def test_cancellation_kills_the_ffmpeg_process_group(self, tmp_path: Path) -> None:
        """Cancelling the task leaves no ffmpeg behind."""
        marker = uuid.uuid4().hex
        argv = ffmpeg_command(
            OPTIONS,
            [
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=64x48:rate=5",
                "-metadata",
                f"comment={marker}",
                "-f",
                "null",
                "-",
            ],
        )
        started = asyncio.Event()
        task = asyncio.create_task(
            run_ffmpeg(
                argv,
                cwd=tmp_path,
                duration_s=None,
                on_progress=lambda _: None,
                on_stats=lambda _: started.set(),
            )
        )
        await asyncio.wait_for(started.wait(), timeout=20)
        assert processes_mentioning(marker)

        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        assert [] == processes_mentioning(marker)
