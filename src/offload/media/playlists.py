"""HLS playlists of VOD renditions: the master playlist, resolution playlists as runners send
them, and the RFC 6381 codec strings players need to pick a rendition."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import av
import av.error

from offload.domain.videos import VideoFile

__all__ = [
    "MASTER_PLAYLIST",
    "PlaylistError",
    "ResolutionPlaylist",
    "codecs_of",
    "master_playlist",
    "parse_resolution_playlist",
]

#: The master playlist's file name in a video's HLS directory (rewritten atomically in place).
MASTER_PLAYLIST = "master.m3u8"

_BYTERANGE_RE = re.compile(r"^#EXT-X-BYTERANGE:(\d+)(?:@(\d+))?$")
_MAP_RE = re.compile(r'^#EXT-X-MAP:URI="([^"]+)"(.*)$')


class PlaylistError(ValueError):
    """A resolution playlist that does not describe the file it came with."""


@dataclass(frozen=True, slots=True)
class ResolutionPlaylist:
    """A VOD resolution playlist whose every URI points at one fragmented MP4."""

    text: str
    segments: int
    duration_s: float


def parse_resolution_playlist(
    text: str, video_size: int, video_filename: str
) -> ResolutionPlaylist:
    """Check a runner's resolution playlist and point it at `video_filename`.

    The runner names its output as it likes; the instance stores the MP4 under its own name, so
    every URI (the `EXT-X-MAP` init section and each segment) is rewritten to that name. Byte
    ranges must lie inside the MP4 that came with the playlist.

    Raises:
        PlaylistError: not an HLS playlist, no segment, several media files, or a range
            outside the file.
    """
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    if not lines or lines[0] != "#EXTM3U":
        raise PlaylistError("the resolution playlist does not start with #EXTM3U")
    out: list[str] = []
    uris: set[str] = set()
    segments = 0
    duration_s = 0.0
    next_offset = 0
    for line in lines:
        if not line:
            continue
        mapped = _MAP_RE.match(line)
        if mapped:
            uris.add(mapped.group(1))
            attributes = mapped.group(2)
            _check_map_range(attributes, video_size)
            out.append(f'#EXT-X-MAP:URI="{video_filename}"{attributes}')
            continue
        ranged = _BYTERANGE_RE.match(line)
        if ranged:
            length = int(ranged.group(1))
            offset = int(ranged.group(2)) if ranged.group(2) is not None else next_offset
            if offset + length > video_size:
                raise PlaylistError(
                    f"segment bytes {offset}-{offset + length - 1} lie beyond the {video_size}-byte video file"
                )
            next_offset = offset + length
        if line.startswith("#EXTINF:"):
            try:
                duration_s += float(line[len("#EXTINF:") :].split(",", 1)[0])
            except ValueError as exc:
                raise PlaylistError(f"bad segment duration: {line}") from exc
        if line.startswith("#"):
            out.append(line)
            continue
        uris.add(line)
        segments += 1
        out.append(video_filename)
    if segments == 0:
        raise PlaylistError("the resolution playlist lists no segment")
    if len(uris) != 1:
        raise PlaylistError(
            f"a VOD rendition is one fragmented MP4, the playlist names {len(uris)} files"
        )
    return ResolutionPlaylist("\n".join(out) + "\n", segments, duration_s)


def _check_map_range(attributes: str, video_size: int) -> None:
    found = re.search(r'BYTERANGE="(\d+)@(\d+)"', attributes)
    if found and int(found.group(1)) + int(found.group(2)) > video_size:
        raise PlaylistError("the init section lies beyond the video file")


def master_playlist(files: Iterable[VideoFile]) -> str:
    """The master playlist of a video's HLS renditions (PeerTube's layout).

    Every rendition gets BANDWIDTH, RESOLUTION and CODECS. With split audio the audio-only
    rendition becomes the `audio` group every video rendition refers to, so a player never
    picks a picture-less stream; alone, it is listed as a normal stream.
    """
    renditions = sorted(files, key=lambda f: (f.resolution, f.fps, f.id))
    audio_only = [f for f in renditions if f.is_audio_only]
    with_video = [f for f in renditions if f.has_video]
    split = bool(audio_only) and bool(with_video) and not any(f.has_audio for f in with_video)
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", ""]
    audio_codec = ""
    if split:
        audio = max(audio_only, key=lambda f: (f.bandwidth, f.id))
        audio_codec = audio.codecs
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Audio",AUTOSELECT=YES,DEFAULT=YES,URI="{audio.playlist_filename}"'
        )
        lines.append("")
    listed = with_video if with_video else audio_only
    for f in listed:
        codecs = ",".join(c for c in (f.codecs, audio_codec) if c)
        bandwidth = f.bandwidth + (max(a.bandwidth for a in audio_only) if split else 0)
        attributes = [f"BANDWIDTH={max(bandwidth, 1)}"]
        # Players require RESOLUTION on every video rendition; an audio-only stream has none,
        # so it states 0x0 rather than leave the attribute out of the listing.
        attributes.append(f"RESOLUTION={f.width}x{f.height}" if f.has_video else "RESOLUTION=0x0")
        if f.fps:
            attributes.append(f"FRAME-RATE={f.fps}")
        attributes.append(f'CODECS="{codecs}"')
        if split:
            attributes.append('AUDIO="audio"')
        lines.append("#EXT-X-STREAM-INF:" + ",".join(attributes))
        lines.append(str(f.playlist_filename))
    return "\n".join(lines) + "\n"


def codecs_of(path: Path) -> str:
    """RFC 6381 codec strings of a file's first video and audio streams, comma-separated.

    H.264 reads profile, constraints and level straight from the avcC record, as players do;
    other codecs use PeerTube's fixed strings.
    """
    try:
        with av.open(str(path)) as container:
            codecs = [_video_codec(s) for s in container.streams.video[:1]]
            codecs += [_audio_codec(s) for s in container.streams.audio[:1]]
    except (av.error.FFmpegError, OSError):
        return ""
    return ",".join(c for c in codecs if c)


def _video_codec(stream: av.video.stream.VideoStream) -> str:
    context = stream.codec_context
    name = context.codec.canonical_name
    if name == "h264":
        extradata = context.extradata or b""
        if len(extradata) >= 4 and extradata[0] == 1:
            return f"avc1.{extradata[1]:02X}{extradata[2]:02X}{extradata[3]:02X}"
        profile = {"Baseline": "42E0", "Constrained Baseline": "42E0", "Main": "4D40"}.get(
            context.profile or "", "6400"
        )
        level = getattr(context, "level", 0) or 0x1F
        return f"avc1.{profile}{level:02X}"
    if name == "hevc":
        return "hev1.1.6.L93.B0"
    if name == "vp9":
        return "vp09.00.50.08"
    if name == "av1":
        return "av01.0.08M.08"
    return name


def _audio_codec(stream: av.audio.stream.AudioStream) -> str:
    context = stream.codec_context
    name = context.codec.canonical_name
    if name == "aac":
        return "mp4a.40.5" if (context.profile or "").startswith("HE-AAC") else "mp4a.40.2"
    return {
        "mp3": "mp4a.40.34",
        "opus": "opus",
        "vorbis": "vorbis",
        "flac": "fLaC",
        "ac3": "ac-3",
        "eac3": "ec-3",
    }.get(name, "mp4a.40.2")
