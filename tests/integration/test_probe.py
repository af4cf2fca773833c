"""`probe` reads real files made by ffmpeg."""

from __future__ import annotations

from pathlib import Path

import pytest

from offload.media import AudioStream, ProbeError, VideoStream, probe
from tests.media import Clips, shared_clips


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Clips:
    """The session's lazily generated clips."""
    return shared_clips(tmp_path_factory)


def test_probe_reads_video_and_audio(clips: Clips) -> None:
    """A 1 s 320x240 H.264/AAC clip is described fully."""
    info = probe(clips.av)

    assert (
        VideoStream("h264", 320, 240, 25.0, "yuv420p", info.video.bit_rate if info.video else None)
        == info.video
    )
    assert "aac" == (info.audio.codec if info.audio else None)
    assert 1 == (info.audio.channels if info.audio else None)
    assert 44100 == (info.audio.sample_rate if info.audio else None)
    assert abs(1.0 - (info.duration_s or 0)) < 0.1
    assert "mov,mp4,m4a,3gp,3g2,mj2" == info.format_name
    assert (True, True, 240) == (info.has_video, info.has_audio, info.resolution)


def test_probe_resolution_is_the_short_side(clips: Clips) -> None:
    """A portrait 240x320 clip has resolution 240."""
    info = probe(clips.portrait)

    assert (240, 320, 240) == (
        info.video.width if info.video else 0,
        info.video.height if info.video else 0,
        info.resolution,
    )


def test_probe_applies_the_display_rotation(clips: Clips) -> None:
    """Landscape frames with a 90° rotation are described as the portrait picture they show."""
    info = probe(clips.rotated)

    assert (240, 320, 240) == (
        info.video.width if info.video else 0,
        info.video.height if info.video else 0,
        info.resolution,
    )


def test_probe_video_without_audio(clips: Clips) -> None:
    """A silent clip has video and no audio."""
    info = probe(clips.video_only)

    assert (True, False) == (info.has_video, info.has_audio)


def test_probe_audio_only(clips: Clips) -> None:
    """An M4A has audio, no video, and resolution 0."""
    info = probe(clips.audio_only)

    assert (False, True, 0) == (info.has_video, info.has_audio, info.resolution)


def test_probe_cover_art_is_not_video(clips: Clips) -> None:
    """An MP3 with an attached picture counts as audio only."""
    info = probe(clips.mp3_with_cover)

    assert (None, "mp3") == (info.video, info.audio.codec if info.audio else None)
    assert isinstance(info.audio, AudioStream)


def test_probe_refuses_a_text_file(tmp_path: Path) -> None:
    """A text file raises ProbeError naming the file."""
    path = tmp_path / "notes.txt"
    path.write_text("hello\n" * 50)

    with pytest.raises(ProbeError) as caught:
        probe(path)

    assert "notes.txt" in str(caught.value)


def test_probe_refuses_corrupt_bytes(clips: Clips) -> None:
    """Garbage in an .mp4 raises ProbeError."""
    with pytest.raises(ProbeError):
        probe(clips.corrupt)


def test_probe_refuses_a_missing_file(tmp_path: Path) -> None:
    """A missing file raises ProbeError rather than OSError."""
    with pytest.raises(ProbeError):
        probe(tmp_path / "missing.mp4")
