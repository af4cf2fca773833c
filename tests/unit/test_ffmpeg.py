"""ffmpeg argument lists per job type, against runner.md §3.0–3.3."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from offload.media.ffmpeg import (
    FfmpegOptions,
    audio_merge_args,
    can_copy_for_hls,
    can_quick_transcode_audio,
    ffmpeg_command,
    hls_args,
    resolve_ffmpeg_path,
    web_video_args,
)
from offload.media.probe import AudioStream, MediaInfo, VideoStream

OPTIONS = FfmpegOptions(path="/usr/bin/ffmpeg")
MP4 = "mov,mp4,m4a,3gp,3g2,mj2"
AAC_STEREO = AudioStream("aac", 128_000, 2, "stereo", 44100)
MP3_192K = AudioStream("mp3", 192_000, 2, "stereo", 44100)
# 720p H.264 at 25 fps, 2 Mbit/s, AAC: what a phone upload often looks like.
SOURCE = MediaInfo(
    10.0, MP4, 2_000_000, VideoStream("h264", 1280, 720, 25.0, "yuv420p", 1_800_000), AAC_STEREO
)
# For 480p at 25 fps from 16:9: average 1 228 815 bit/s (below 1.3 × 2 Mbit/s).
X264_480 = [
    "-preset",
    "veryfast",
    "-maxrate:v",
    "1228815",
    "-bufsize:v",
    "2457630",
    "-b_strategy",
    "1",
    "-bf",
    "16",
    "-g:v",
    "50",
]
GLOBAL = ["-max_muxing_queue_size", "1024", "-map_metadata", "-1", "-pix_fmt", "yuv420p"]
HLS = [
    "-hls_time",
    "4",
    "-hls_list_size",
    "0",
    "-hls_playlist_type",
    "vod",
    "-hls_segment_filename",
    "/w/u-480-fragmented.mp4",
    "-hls_segment_type",
    "fmp4",
    "-f",
    "hls",
    "-hls_flags",
    "single_file",
]


def _web(**overrides: object) -> list[str]:
    values: dict[str, object] = {
        "video_input": Path("/in/video"),
        "video_info": SOURCE,
        "output": Path("/w/out.mp4"),
        "resolution": 480,
        "fps": 25,
        "options": OPTIONS,
    }
    values.update(overrides)
    return web_video_args(**values)  # type: ignore[arg-type]


def _hls(**overrides: object) -> list[str]:
    values: dict[str, object] = {
        "video_input": Path("/in/video"),
        "video_info": SOURCE,
        "playlist": Path("/w/u-480.m3u8"),
        "segment": Path("/w/u-480-fragmented.mp4"),
        "resolution": 480,
        "fps": 25,
        "separated_audio": False,
        "copy_codecs": False,
        "options": OPTIONS,
    }
    values.update(overrides)
    return hls_args(**values)  # type: ignore[arg-type]


class TestCommand:
    def test_nice_binary_and_progress_flags_come_first(self) -> None:
        """`nice -n 20 ffmpeg` as upstream, then machine-readable progress on stdout."""
        assert [
            "nice",
            "-n",
            "20",
            "/usr/bin/ffmpeg",
            "-hide_banner",
            "-nostats",
            "-progress",
            "pipe:1",
            "-i",
            "x",
        ] == ffmpeg_command(OPTIONS, ["-i", "x"])

    def test_nice_zero_runs_ffmpeg_directly(self) -> None:
        """nice = 0 means no renicing."""
        assert "/usr/bin/ffmpeg" == ffmpeg_command(replace(OPTIONS, nice=0), [])[0]

    def test_launcher_comes_before_nice(self) -> None:
        """A launcher such as `setpriv --pdeathsig KILL --` wraps the whole command."""
        options = replace(OPTIONS, launcher=("setpriv", "--pdeathsig", "KILL", "--"))

        assert [
            "setpriv",
            "--pdeathsig",
            "KILL",
            "--",
            "nice",
            "-n",
            "20",
            "/usr/bin/ffmpeg",
        ] == ffmpeg_command(options, [])[:8]

    def test_path_precedence(self) -> None:
        """`[ffmpeg] path` beats FFMPEG_PATH, which beats the bundled build."""
        env = {"FFMPEG_PATH": "/opt/ffmpeg"}

        assert ("/cfg/ffmpeg", "/opt/ffmpeg") == (
            resolve_ffmpeg_path("/cfg/ffmpeg", env),
            resolve_ffmpeg_path(None, env),
        )
        assert Path(resolve_ffmpeg_path(None, {})).name.startswith("ffmpeg")


class TestWebVideo:
    def test_default_profile_with_copied_aac(self) -> None:
        """runner.md §3.1 in order: codecs, threads, mp4+faststart, globals, filters, x264, GOP."""
        expected = [
            "-i",
            "/in/video",
            "-y",
            "-acodec",
            "copy",
            "-vcodec",
            "libx264",
            "-threads",
            "2",
            "-f",
            "mp4",
            "-movflags",
            "faststart",
            *GLOBAL,
            "-vf",
            "scale=w=-2:h=480,fps=fps=25",
            *X264_480,
            "/w/out.mp4",
        ]

        assert expected == _web()

    def test_mp3_is_reencoded_to_stereo_aac_at_its_bitrate(self) -> None:
        """Non-AAC audio: `-channel_layout stereo -b:a min(384, source)k`, before the video options."""
        args = _web(video_info=replace(SOURCE, audio=MP3_192K))

        assert ["-acodec", "aac", "-vcodec", "libx264"] == args[3:7]
        assert [*GLOBAL, "-channel_layout", "stereo", "-b:a", "192k", "-vf"] == args[13:24]

    def test_no_audio_is_an(self) -> None:
        """A silent source gets `-an`."""
        assert ["-an", "-vcodec", "libx264"] == _web(video_info=replace(SOURCE, audio=None))[3:6]

    def test_resolution_zero_is_audio_only(self) -> None:
        """Resolution 0: `-vn`, audio options only, no filters."""
        expected = [
            "-i",
            "/in/video",
            "-y",
            "-acodec",
            "copy",
            "-vn",
            "-threads",
            "2",
            "-f",
            "mp4",
            "-movflags",
            "faststart",
            *GLOBAL,
            "/w/out.mp4",
        ]

        assert expected == _web(resolution=0, fps=0)

    def test_portrait_scales_the_width(self) -> None:
        """A portrait source is scaled on its short side, the width."""
        portrait = replace(SOURCE, video=VideoStream("h264", 720, 1280, 25.0, "yuv420p", None))

        assert "scale=w=480:h=-2,fps=fps=25" in _web(video_info=portrait)

    def test_separate_audio_file_is_a_second_input_and_drives_audio(self) -> None:
        """The split audio file is input #1 and its codec decides copy or re-encode."""
        silent = replace(SOURCE, audio=None)
        audio = MediaInfo(10.0, "mp3", 192_000, None, MP3_192K)
        args = _web(video_info=silent, audio_input=Path("/in/audio"), audio_info=audio)

        assert ["-i", "/in/video", "-i", "/in/audio", "-y", "-acodec", "aac"] == args[:7]
        assert ["-b:a", "192k"] == args[args.index("-b:a") : args.index("-b:a") + 2]

    def test_threads_zero_lets_ffmpeg_decide(self) -> None:
        """threads = 0 omits `-threads`."""
        assert "-threads" not in _web(options=replace(OPTIONS, threads=0))

    def test_libfdk_aac_always_reencodes_at_q5(self) -> None:
        """With libfdk_aac available: `-q:a 5`, never copy, no stereo forcing."""
        args = _web(options=replace(OPTIONS, audio_encoder="libfdk_aac"))

        assert ("libfdk_aac", ["-q:a", "5"], False) == (
            args[4],
            args[19:21],
            "-channel_layout" in args,
        )


class TestHls:
    def test_reencode_never_copies_audio(self) -> None:
        """§3.2: re-encoding forbids audio copy even for sane AAC (desync, PeerTube #6438)."""
        expected = [
            "-i",
            "/in/video",
            "-y",
            "-acodec",
            "aac",
            "-vcodec",
            "libx264",
            "-threads",
            "2",
            "-f",
            "mp4",
            "-movflags",
            "faststart",
            *GLOBAL,
            "-channel_layout",
            "stereo",
            "-vf",
            "scale=w=-2:h=480,fps=fps=25",
            *X264_480,
            *HLS,
            "/w/u-480.m3u8",
        ]

        assert expected == _hls()

    def test_copy_path(self) -> None:
        """§3.2 copy path: stream copy into the same single-file fMP4 HLS options."""
        expected = [
            "-i",
            "/in/video",
            "-y",
            "-acodec",
            "copy",
            "-vcodec",
            "copy",
            "-threads",
            "2",
            "-f",
            "mp4",
            *HLS,
            "/w/u-480.m3u8",
        ]

        assert expected == _hls(copy_codecs=True)

    def test_separated_audio_video_rendition_has_no_audio(self) -> None:
        """With split audio a video rendition is video only, copied or not."""
        assert (["-an", "-vcodec", "copy"], ["-an", "-vcodec", "libx264"]) == (
            _hls(copy_codecs=True, separated_audio=True)[3:6],
            _hls(separated_audio=True)[3:6],
        )

    def test_separated_audio_rendition_zero_has_no_video(self) -> None:
        """Resolution 0 with split audio is the audio-only rendition."""
        assert (["-acodec", "copy", "-vn"], ["-acodec", "aac", "-vn"]) == (
            _hls(copy_codecs=True, separated_audio=True, resolution=0, fps=0)[3:6],
            _hls(separated_audio=True, resolution=0, fps=0)[3:6],
        )


class TestCopyDecision:
    def test_same_size_and_fps_h264_aac_is_copied(self) -> None:
        """The 720p/25 source fits the 720p/25 rendition."""
        assert can_copy_for_hls(SOURCE, 720, 25)

    @pytest.mark.parametrize(
        ("info", "resolution", "fps"),
        [
            (SOURCE, 480, 25),  # another resolution
            (SOURCE, 720, 30),  # another frame rate
            (
                replace(SOURCE, bit_rate=9_000_000),
                720,
                25,
            ),  # above the max-bpp ceiling (4.38 Mbit/s)
            (replace(SOURCE, video=replace(SOURCE.video, pix_fmt="yuv444p")), 720, 25),  # type: ignore[type-var]
            (replace(SOURCE, video=replace(SOURCE.video, codec="vp9")), 720, 25),  # type: ignore[type-var]
            (replace(SOURCE, audio=MP3_192K), 720, 25),  # audio not copyable
            (replace(SOURCE, bit_rate=None, video=replace(SOURCE.video, bit_rate=None)), 720, 25),  # type: ignore[type-var]
        ],
    )
    def test_anything_else_is_reencoded(self, info: MediaInfo, resolution: int, fps: int) -> None:
        """Resolution, fps, bitrate, pixel format, codec or audio off target → re-encode."""
        assert not can_copy_for_hls(info, resolution, fps)

    @pytest.mark.parametrize(
        ("audio", "expected"),
        [
            (None, True),
            (AAC_STEREO, True),
            (replace(AAC_STEREO, channel_layout="quad"), False),  # breaks Chrome playback
            (replace(AAC_STEREO, channel_layout=None), False),
            (replace(AAC_STEREO, bit_rate=None), False),
            (replace(AAC_STEREO, bit_rate=400_000), False),
            (MP3_192K, False),
        ],
    )
    def test_quick_audio(self, audio: AudioStream | None, expected: bool) -> None:
        """AAC ≤ 384k with a known, non-quad layout (or no audio) can be copied."""
        assert expected == can_quick_transcode_audio(audio)


class TestAudioMerge:
    def test_still_image_over_audio(self) -> None:
        """§3.3: looped image first, bitrate from the audio file (192k fallback capped at 1.3 × 100k)."""
        audio = MediaInfo(30.0, "mp3", 100_000, None, MP3_192K)
        expected = [
            "-loop",
            "1",
            "-i",
            "/in/preview",
            "-i",
            "/in/audio",
            "-y",
            "-acodec",
            "aac",
            "-vcodec",
            "libx264",
            "-threads",
            "2",
            "-f",
            "mp4",
            "-movflags",
            "faststart",
            *GLOBAL,
            "-channel_layout",
            "stereo",
            "-b:a",
            "192k",
            "-vf",
            "scale=w=-2:h=480,fps=fps=25",
            "-preset",
            "veryfast",
            "-maxrate:v",
            "130000",
            "-bufsize:v",
            "260000",
            "-b_strategy",
            "1",
            "-bf",
            "16",
            "-g:v",
            "50",
            "-preset:v",
            "veryfast",
            "-tune",
            "stillimage",
            "-shortest",
            "/w/out.mp4",
        ]

        actual = audio_merge_args(
            image_input=Path("/in/preview"),
            audio_input=Path("/in/audio"),
            audio_info=audio,
            output=Path("/w/out.mp4"),
            resolution=480,
            fps=25,
            options=OPTIONS,
        )

        assert expected == actual
