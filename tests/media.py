"""Clip generators for media tests: tiny real files made by the real ffmpeg (lavfi sources).

The machine is small and shared, so clips are short and small (320x240, 1-2 s). Each clip is
generated once per session in a shared temp dir (`shared_clips`), or made on demand with
`make_clip`.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from imageio_ffmpeg import get_ffmpeg_exe

__all__ = [
    "Clips",
    "frame_count",
    "make_clip",
    "paced_ffmpeg",
    "processes_mentioning",
    "shared_clips",
    "silent_ffmpeg",
    "top_level_boxes",
    "video_duration_s",
]


def make_clip(
    path: Path,
    *,
    duration_s: float = 1.0,
    size: str = "320x240",
    fps: int = 25,
    video: bool = True,
    audio: bool = True,
    video_codec: str = "libx264",
    audio_codec: str = "aac",
    cover_art: bool = False,
) -> Path:
    """Write a test clip (testsrc picture, sine tone) to `path` and return it."""
    args = [get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y"]
    maps: list[str] = []
    index = 0
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={duration_s}"]
        maps += ["-map", f"{index}:a"]
        index += 1
    if video or cover_art:
        source = f"testsrc=size={size}:rate={fps}:duration={duration_s}"
        if cover_art:
            source = "testsrc=size=64x64:rate=1:duration=1"
        args += ["-f", "lavfi", "-i", source]
        maps += ["-map", f"{index}:v"]
    args += maps
    if video and not cover_art:
        args += ["-c:v", video_codec, "-pix_fmt", "yuv420p"]
        if video_codec == "libx264":
            args += ["-preset", "ultrafast"]
    if cover_art:
        args += ["-c:v", "mjpeg", "-disposition:v:0", "attached_pic"]
    if audio:
        args += ["-c:a", audio_codec]
    args += ["-t", str(duration_s), str(path)]
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    return path


@dataclass(frozen=True)
class Clips:
    """The session's clips."""

    directory: Path

    @property
    def av(self) -> Path:
        """1 s, 320x240 at 25 fps H.264 + AAC mono, MP4."""
        return self._get("av.mp4")

    @property
    def av_2s(self) -> Path:
        """2 s, 320x240 at 25 fps H.264 + AAC, MP4."""
        return self._get("av_2s.mp4", duration_s=2.0)

    @property
    def video_only(self) -> Path:
        """1 s, 320x240 H.264 without audio."""
        return self._get("video_only.mp4", audio=False)

    @property
    def audio_only(self) -> Path:
        """1 s AAC tone in an M4A."""
        return self._get("audio_only.m4a", video=False)

    @property
    def mp3_with_cover(self) -> Path:
        """1 s MP3 tone carrying a JPEG cover picture (attached_pic)."""
        return self._get("cover.mp3", video=False, audio_codec="libmp3lame", cover_art=True)

    @property
    def portrait(self) -> Path:
        """1 s, 240x320 (portrait) H.264 + AAC."""
        return self._get("portrait.mp4", size="240x320")

    @property
    def rotated(self) -> Path:
        """The 1 s 320x240 clip stored landscape with a 90° display rotation, like a phone's
        portrait video: it plays as 240x320."""
        path = self.directory / "rotated.mp4"
        if not path.exists():
            subprocess.run(
                [
                    get_ffmpeg_exe(),
                    "-nostdin",
                    "-v",
                    "error",
                    "-y",
                    "-display_rotation",
                    "90",
                    "-i",
                    str(self.av),
                    "-c",
                    "copy",
                    str(path),
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
        return path

    @property
    def vp9_webm(self) -> Path:
        """1 s, 320x240 VP9 + Opus WebM (not copyable into HLS)."""
        return self._get("vp9.webm", video_codec="libvpx-vp9", audio_codec="libopus")

    @property
    def image(self) -> Path:
        """A 320x240 PNG picture, as uploaded for an audio-merge job."""
        path = self.directory / "preview.png"
        if not path.exists():
            subprocess.run(
                [
                    get_ffmpeg_exe(),
                    "-nostdin",
                    "-v",
                    "error",
                    "-y",
                    "-f",
                    "lavfi",
                    "-i",
                    "testsrc=size=320x240:rate=1:duration=1",
                    "-frames:v",
                    "1",
                    str(path),
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
        return path

    @property
    def corrupt(self) -> Path:
        """Bytes that look like nothing ffmpeg can read."""
        path = self.directory / "corrupt.mp4"
        if not path.exists():
            path.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 64)
        return path

    def _get(self, name: str, **options: object) -> Path:
        path = self.directory / name
        if not path.exists():
            make_clip(path, **options)  # type: ignore[arg-type]
        return path


_SHARED: dict[Path, Clips] = {}


def shared_clips(tmp_path_factory: pytest.TempPathFactory) -> Clips:
    """The session's clips: one directory per pytest run, whichever test module asks (each
    module wraps this in its own session-scoped `clips` fixture)."""
    base = tmp_path_factory.getbasetemp()
    if base not in _SHARED:
        _SHARED[base] = Clips(tmp_path_factory.mktemp("clips"))
    return _SHARED[base]


def top_level_boxes(path: Path) -> list[str]:
    """The top-level ISO-BMFF box types of an MP4, in file order (faststart: moov before mdat)."""
    boxes: list[str] = []
    with path.open("rb") as handle:
        while header := handle.read(8):
            if len(header) < 8:
                break
            size = int.from_bytes(header[:4], "big")
            kind = header[4:8].decode("latin-1")
            boxes.append(kind)
            if size == 1:
                size = int.from_bytes(handle.read(8), "big")
                handle.seek(size - 16, 1)
            elif size == 0:
                break
            else:
                handle.seek(size - 8, 1)
    return boxes


def video_duration_s(path: Path) -> float:
    """Duration of the first video stream (container durations include AAC priming)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        frames = [f for f in container.decode(stream)]
        return len(frames) / float(stream.average_rate or 1)


def frame_count(path: Path) -> int:
    """Decoded video frames."""
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def paced_ffmpeg(directory: Path) -> Path:
    """An ffmpeg wrapper that reads its first input at native speed (`-re`), so a job on an
    N-second clip lasts about N seconds: long enough to kill, cancel or stop it midway. It
    `exec`s, so the process is still one pid with the job's paths on its command line."""
    script = directory / "paced-ffmpeg"
    script.write_text(f'#!/bin/sh\nexec "{get_ffmpeg_exe()}" -re "$@"\n')
    script.chmod(0o755)
    return script


def silent_ffmpeg(directory: Path) -> Path:
    """An ffmpeg wrapper whose transcodes (the calls with `-progress`) first sit silent for two
    minutes: a job that reports no progress, whose runner sends no update for a long while.
    Until it `exec`s, the shell's command line carries the job's paths."""
    script = directory / "silent-ffmpeg"
    script.write_text(
        f'#!/bin/sh\ncase "$*" in *-progress*) sleep 120;; esac\nexec "{get_ffmpeg_exe()}" "$@"\n'
    )
    script.chmod(0o755)
    return script


def processes_mentioning(text: str) -> list[int]:
    """Live (non-zombie) processes whose command line contains `text`, e.g. a job uuid that
    appears in ffmpeg's paths: how tests see that no encoder outlived its job."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        if text.encode() in cmdline and "\nState:\tZ" not in status:
            found.append(int(entry))
    return found
