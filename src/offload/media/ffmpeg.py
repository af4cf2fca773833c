"""ffmpeg argument lists per job type, as pure functions (runner.md §3.0–3.3).

The lists reproduce what the official runner's fluent-ffmpeg wrapper spawns, in the same order:
inputs, `-y`, the audio codec group, the video codec group, then the output options in the order
PeerTube adds them, then the output path. Two additions, both outside the encoding settings:
`-hide_banner -nostats -progress pipe:1` at the front, so progress comes as machine-readable
key=value blocks on stdout (see `progress.py`) instead of being scraped from stderr.

Decisions that need facts about the input (copy or re-encode, bitrates, portrait or not) take a
`MediaInfo` from `probe`; nothing here touches the disk or runs a process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from offload.media.bitrate import aspect_ratio, max_audio_kbitrate, max_bitrate, target_bitrate
from offload.media.probe import AudioStream, MediaInfo

__all__ = [
    "DEFAULT_NICE",
    "DEFAULT_THREADS",
    "FfmpegOptions",
    "audio_merge_args",
    "can_copy_for_hls",
    "can_quick_transcode_audio",
    "can_quick_transcode_video",
    "ffmpeg_command",
    "hls_args",
    "resolve_ffmpeg_path",
    "rounded_fps",
    "scale_filter",
    "studio_preset",
    "web_video_args",
]

DEFAULT_THREADS = 2  # the official runner's in-code default (its docs template says 0)
DEFAULT_NICE = 20
HLS_SEGMENT_S = 4


@dataclass(frozen=True)
class FfmpegOptions:
    """How to run ffmpeg on this machine: binary, threads (0 = ffmpeg decides), niceness
    (0 = do not renice), the AAC encoder (`aac`, or `libfdk_aac` when the build has it) and an
    optional launcher prefix (the runner uses `setpriv --pdeathsig KILL --` so that ffmpeg dies
    with a runner killed by SIGKILL instead of running on as an orphan)."""

    path: str
    threads: int = DEFAULT_THREADS
    nice: int = DEFAULT_NICE
    audio_encoder: str = "aac"
    launcher: tuple[str, ...] = ()


def resolve_ffmpeg_path(
    configured: str | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """The ffmpeg binary: `[ffmpeg] path` if set, else `FFMPEG_PATH` (honoured by the official
    runner through fluent-ffmpeg), else the build shipped with imageio-ffmpeg."""
    env = os.environ if environ is None else environ
    if configured:
        return configured
    if env.get("FFMPEG_PATH"):
        return env["FFMPEG_PATH"]
    from imageio_ffmpeg import get_ffmpeg_exe

    return str(get_ffmpeg_exe())


def ffmpeg_command(options: FfmpegOptions, args: list[str]) -> list[str]:
    """The full argv: the launcher, `nice -n N` (as the official runner spawns it), the binary,
    progress reporting flags, then `args` from one of the builders."""
    prefix = ["nice", "-n", str(options.nice)] if options.nice else []
    return [
        *options.launcher,
        *prefix,
        options.path,
        "-hide_banner",
        "-nostats",
        "-progress",
        "pipe:1",
        *args,
    ]


def rounded_fps(info: MediaInfo) -> int:
    """The video's frame rate as PeerTube compares it (`Math.round`), 0 without video."""
    if info.video is None:
        return 0
    return int(info.video.fps + 0.5)


def scale_filter(resolution: int, portrait: bool) -> str:
    """Scale to `resolution` on the short side; -2 keeps the other side even (x264 needs it)."""
    return f"scale=w={resolution}:h=-2" if portrait else f"scale=w=-2:h={resolution}"


def can_quick_transcode_audio(audio: AudioStream | None) -> bool:
    """Whether the audio can be copied as is: none at all, or AAC at a known bitrate up to
    384 kbit/s with a known channel layout other than quad (which breaks Chrome playback)."""
    if audio is None:
        return True
    if audio.codec != "aac" or not audio.bit_rate:
        return False
    if max_audio_kbitrate("aac", audio.bit_rate) != -1:
        return False
    return audio.channel_layout not in (None, "", "unknown", "quad")


def can_quick_transcode_video(info: MediaInfo, max_fps: int) -> bool:
    """Whether the video stream is already what we would produce: H.264 yuv420p, a sane frame
    rate not above `max_fps` and a bitrate under the max-bpp limit of its own size."""
    video = info.video
    if video is None:
        return True
    bit_rate = _input_bitrate(info)
    if not bit_rate:
        return False
    if video.codec != "h264" or video.pix_fmt != "yuv420p":
        return False
    fps = rounded_fps(info)
    if fps < 2 or fps > max_fps:
        return False
    ratio = aspect_ratio(video.width, video.height)
    return bit_rate <= max_bitrate(info.resolution, ratio, fps)


def can_copy_for_hls(info: MediaInfo, resolution: int, fps: int) -> bool:
    """Runner ≥ 0.4.0: an HLS rendition copies the codecs when the input is quick-transcodable
    and already has the target resolution and frame rate (no second encode of the top rung)."""
    return (
        can_quick_transcode_audio(info.audio)
        and can_quick_transcode_video(info, fps)
        and resolution == info.resolution
        and (not info.resolution or fps == rounded_fps(info))
    )


def web_video_args(
    *,
    video_input: Path,
    video_info: MediaInfo,
    output: Path,
    resolution: int,
    fps: int,
    options: FfmpegOptions,
    audio_input: Path | None = None,
    audio_info: MediaInfo | None = None,
) -> list[str]:
    """`vod-web-video-transcoding` (§3.1): one MP4, audio copied when it can be."""
    inputs = ["-i", str(video_input)] + (["-i", str(audio_input)] if audio_input else [])
    body = _vod_preset(
        video_info=video_info,
        audio_info=audio_info,
        resolution=resolution,
        fps=fps,
        options=options,
        can_copy_audio=True,
        video_only=False,
        portrait=_portrait(video_info),
    )
    return [*inputs, "-y", *body, str(output)]


def hls_args(
    *,
    video_input: Path,
    video_info: MediaInfo,
    playlist: Path,
    segment: Path,
    resolution: int,
    fps: int,
    separated_audio: bool,
    copy_codecs: bool,
    options: FfmpegOptions,
    audio_input: Path | None = None,
    audio_info: MediaInfo | None = None,
) -> list[str]:
    """`vod-hls-transcoding` (§3.2): a single-file fMP4 rendition plus its playlist.

    `copy_codecs` comes from `can_copy_for_hls`. When re-encoding, audio is never copied (copying
    next to a re-encoded video desynchronises them, PeerTube #6438). With `separated_audio`, a
    video rendition drops audio and the resolution-0 rendition drops video.
    """
    inputs = ["-i", str(video_input)] + (["-i", str(audio_input)] if audio_input else [])
    if copy_codecs:
        with_audio = not separated_audio or not resolution
        with_video = not separated_audio or bool(resolution)
        body = [
            *(["-acodec", "copy"] if with_audio else ["-an"]),
            *(["-vcodec", "copy"] if with_video else ["-vn"]),
            *_threads(options),
            "-f",
            "mp4",
        ]
    else:
        body = _vod_preset(
            video_info=video_info,
            audio_info=audio_info,
            resolution=resolution,
            fps=fps,
            options=options,
            can_copy_audio=False,
            video_only=separated_audio and bool(resolution),
            portrait=_portrait(video_info),
        )
    hls = [
        "-hls_time",
        str(HLS_SEGMENT_S),
        "-hls_list_size",
        "0",
        "-hls_playlist_type",
        "vod",
        "-hls_segment_filename",
        str(segment),
        "-hls_segment_type",
        "fmp4",
        "-f",
        "hls",  # overrides the preset's `-f mp4`, as in PeerTube
        "-hls_flags",
        "single_file",
    ]
    return [*inputs, "-y", *body, *hls, str(playlist)]


def audio_merge_args(
    *,
    image_input: Path,
    audio_input: Path,
    audio_info: MediaInfo,
    output: Path,
    resolution: int,
    fps: int,
    options: FfmpegOptions,
) -> list[str]:
    """`vod-audio-merge-transcoding` (§3.3): a still image looped over the audio, as an MP4.

    As upstream, the bitrate facts come from the audio file (no picture, so the target falls back
    to 192 kbit/s capped by 1.3 × the audio file's bitrate).
    """
    body = _vod_preset(
        video_info=audio_info,
        audio_info=None,
        resolution=resolution,
        fps=fps,
        options=options,
        can_copy_audio=True,
        video_only=False,
        portrait=False,
    )
    tail = ["-preset:v", "veryfast", "-tune", "stillimage", "-shortest"]
    return [
        "-loop",
        "1",
        "-i",
        str(image_input),
        "-i",
        str(audio_input),
        "-y",
        *body,
        *tail,
        str(output),
    ]


def studio_preset(
    *,
    video_info: MediaInfo,
    audio_info: MediaInfo | None,
    fps: int,
    options: FfmpegOptions,
    can_copy_audio: bool,
    video_filters: list[str],
) -> list[str]:
    """The VOD preset of a studio edit (§3.4): the input's own resolution and `fps`, no scale
    filter, and `video_filters` as the `-vf` (empty when the edit's `-filter_complex` ends with
    the fps filter itself, since ffmpeg refuses both on one stream)."""
    return _vod_preset(
        video_info=video_info,
        audio_info=audio_info,
        resolution=video_info.resolution,
        fps=fps,
        options=options,
        can_copy_audio=can_copy_audio,
        video_only=False,
        portrait=_portrait(video_info),
        video_filters=video_filters,
    )


# ---- the shared "default profile" preset --------------------------------------------------


def _vod_preset(
    *,
    video_info: MediaInfo,
    audio_info: MediaInfo | None,
    resolution: int,
    fps: int,
    options: FfmpegOptions,
    can_copy_audio: bool,
    video_only: bool,
    portrait: bool,
    video_filters: list[str] | None = None,
) -> list[str]:
    """PeerTube's `presetVOD`: codec groups, then output options in the order it adds them.

    `video_filters` replaces the default scale + fps `-vf` (studio edits keep their size)."""
    audio_source = audio_info or video_info
    has_audio = audio_source.has_audio
    # Audio merge probes the audio file for "video" facts; its picture comes from the image.
    ratio = (
        0.0
        if video_info.video is None
        else aspect_ratio(video_info.video.width, video_info.video.height)
    )
    streams: list[str]
    if video_only or not has_audio:
        streams = ["video"]
    elif not resolution:
        streams = ["audio"]
    else:
        streams = ["audio", "video"]

    audio_codec, audio_options = _audio_encoder(
        audio_source.audio, can_copy_audio, options.audio_encoder
    )
    audio_group = ["-acodec", audio_codec] if "audio" in streams else ["-an"]
    video_group = ["-vcodec", "libx264"] if "video" in streams else ["-vn"]
    out = [*audio_group, *video_group, *_threads(options)]
    out += ["-f", "mp4", "-movflags", "faststart"]
    out += ["-max_muxing_queue_size", "1024", "-map_metadata", "-1", "-pix_fmt", "yuv420p"]
    for stream in streams:
        if stream == "audio":
            out += audio_options
            continue
        if video_filters is not None:
            filters = list(video_filters)
        else:
            filters = [scale_filter(resolution, portrait)] if resolution else []
            if fps:
                filters.append(f"fps=fps={fps}")
        if filters:
            out += ["-vf", ",".join(filters)]
        bitrate = target_bitrate(_input_bitrate(video_info), resolution, ratio, fps)
        out += [
            "-preset",
            "veryfast",
            "-maxrate:v",
            str(bitrate),
            "-bufsize:v",
            str(bitrate * 2),
            # b-strategy 1 is the heuristic mode; 16 B-frames is what suits it (PeerTube #774).
            "-b_strategy",
            "1",
            "-bf",
            "16",
        ]
        if fps:
            # A keyframe every 2 s: fast seeking and clean switches between HLS renditions.
            out += ["-g:v", str(fps * 2)]
    return out


def _audio_encoder(
    audio: AudioStream | None, can_copy: bool, encoder: str
) -> tuple[str, list[str]]:
    if encoder == "libfdk_aac":
        return "libfdk_aac", ["-q:a", "5"]
    if can_copy and can_quick_transcode_audio(audio):
        return "copy", []
    kbitrate = max_audio_kbitrate(audio.codec if audio else None, audio.bit_rate if audio else None)
    # Stereo is forced: other layouts cause HLS playback problems in Chrome.
    base = ["-channel_layout", "stereo"]
    return "aac", base if kbitrate == -1 else [*base, "-b:a", f"{kbitrate}k"]


def _threads(options: FfmpegOptions) -> list[str]:
    return ["-threads", str(options.threads)] if options.threads > 0 else []


def _input_bitrate(info: MediaInfo) -> int | None:
    # PeerTube's getVideoStreamBitrate: the container's bitrate first, then the video stream's.
    if info.bit_rate:
        return info.bit_rate
    return info.video.bit_rate if info.video else None


def _portrait(info: MediaInfo) -> bool:
    return info.video is not None and info.video.height > info.video.width
