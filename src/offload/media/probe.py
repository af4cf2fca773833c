"""Read the facts a transcoding decision needs from a media file (PyAV, no subprocess)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.stream import Disposition

from offload.media.errors import ProbeError

__all__ = ["AudioStream", "MediaInfo", "VideoStream", "probe"]


@dataclass(frozen=True)
class VideoStream:
    """The first real video stream of a file (never cover art)."""

    codec: str
    width: int
    height: int
    fps: float
    pix_fmt: str | None
    bit_rate: int | None


@dataclass(frozen=True)
class AudioStream:
    """The first audio stream of a file."""

    codec: str
    bit_rate: int | None
    channels: int | None
    channel_layout: str | None
    sample_rate: int | None
    #: How long the stream itself lasts (seconds), when the container says.
    duration_s: float | None = None


@dataclass(frozen=True)
class MediaInfo:
    """What `probe` found: container facts plus the first video and audio streams."""

    duration_s: float | None
    format_name: str
    bit_rate: int | None
    video: VideoStream | None
    audio: AudioStream | None

    @property
    def has_video(self) -> bool:
        return self.video is not None

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    @property
    def resolution(self) -> int:
        """The short side of the picture, as PeerTube counts resolutions (0 without video)."""
        if self.video is None:
            return 0
        return min(self.video.width, self.video.height)


def probe(path: Path) -> MediaInfo:
    """Describe the media file at `path`.

    Raises:
        ProbeError: the file is missing, unreadable, or has neither audio nor video.
    """
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, OSError) as exc:
        # strerror is libav's own reason ("Invalid data found when processing input").
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ProbeError(
            f"{Path(path).name} is not a readable audio or video file: {reason}"
        ) from exc
    with container:
        video = _video_stream(container)
        audio = _audio_stream(container)
        if video is None and audio is None:
            raise ProbeError(f"{Path(path).name} has no audio or video stream")
        return MediaInfo(
            duration_s=_duration_s(container),
            format_name=container.format.name,
            bit_rate=_positive(container.bit_rate),
            video=video,
            audio=audio,
        )


def _video_stream(container: av.container.InputContainer) -> VideoStream | None:
    for stream in container.streams.video:
        # Cover art in MP3/M4A files is a one-picture "video" stream flagged attached_pic;
        # treating it as video would make an audio file look like a 1-frame clip.
        if Disposition.attached_pic in stream.disposition:
            continue
        context = stream.codec_context
        width, height = context.width, context.height
        if _rotation(container, stream) % 180 == 90:
            # Phones store portrait video as landscape frames plus a display rotation; ffmpeg
            # rotates while decoding, so what we size renditions on is the rotated picture
            # (PeerTube's getVideoStreamDimensionsInfo swaps the same way).
            width, height = height, width
        return VideoStream(
            codec=context.codec.canonical_name,
            width=width,
            height=height,
            fps=_fps(stream),
            pix_fmt=context.pix_fmt,
            bit_rate=_positive(stream.bit_rate),
        )
    return None


def _audio_stream(container: av.container.InputContainer) -> AudioStream | None:
    for stream in container.streams.audio:
        context = stream.codec_context
        layout = context.layout.name if context.layout is not None else None
        return AudioStream(
            codec=context.codec.canonical_name,
            bit_rate=_positive(stream.bit_rate),
            channels=_positive(context.channels),
            channel_layout=layout or None,
            sample_rate=_positive(context.sample_rate),
            duration_s=float(stream.duration * stream.time_base)
            if stream.duration and stream.time_base
            else None,
        )
    return None


def _rotation(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int:
    """The display rotation in degrees (0-359), read from the first decoded frame, which carries
    the stream's display matrix; 0 when the picture cannot be decoded."""
    try:
        for frame in container.decode(stream):
            return int(round(frame.rotation or 0)) % 360
    except (av.error.FFmpegError, ValueError):
        return 0
    return 0


def _fps(stream: av.video.stream.VideoStream) -> float:
    # Same order as PeerTube's getVideoStreamFPS: average frame rate, then the "real" base rate.
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and Fraction(rate) > 0:
            return float(rate)
    return 0.0


def _duration_s(container: av.container.InputContainer) -> float | None:
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    durations = [
        float(stream.duration * stream.time_base)
        for stream in container.streams
        if stream.duration and stream.time_base
    ]
    return max(durations) if durations else None


def _positive(value: int | None) -> int | None:
    return value if value else None
