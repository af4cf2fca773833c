"""Clips with real speech for the transcription tests: Debian's espeak-ng says a sentence,
ffmpeg muxes it with a testsrc picture into a small MP4 (`make espeak` installs espeak-ng)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from imageio_ffmpeg import get_ffmpeg_exe

__all__ = ["SENTENCE", "SPOKEN_WORDS", "speech_clip"]

SENTENCE = "Hello world. This video was transcribed by a remote runner."
#: Words Whisper must hear (case-insensitive), whatever punctuation it puts between them.
SPOKEN_WORDS = ("hello", "world", "video", "transcribed", "remote", "runner")


def speech_clip(path: Path, text: str = SENTENCE, *, video: bool = True) -> Path:
    """`text` spoken over a 160x120 testsrc picture (or alone, `video=False`) at `path`."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        if os.environ.get("CI"):
            pytest.fail("espeak-ng is missing: `make espeak` installs it")
        pytest.skip("espeak-ng is missing (`make espeak`)")
    wav = path.with_suffix(".wav")
    subprocess.run([espeak, "-w", str(wav), text], check=True, capture_output=True, timeout=60)
    args = [get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y"]
    if video:
        args += ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=10"]
    args += ["-i", str(wav)]
    if video:
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    args += ["-c:a", "aac", "-shortest", str(path)]
    subprocess.run(args, check=True, capture_output=True, timeout=120)
    wav.unlink()
    return path
