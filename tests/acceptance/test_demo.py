"""The README's main job, `offload demo`, does the whole story on SQLite."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import av
import pytest

from tests.support import free_port

pytestmark = pytest.mark.slow


def test_demo_transcodes_a_clip_and_prints_where_to_look(tmp_path: Path) -> None:
    """`offload demo --exit-when-done` publishes the clip with an HLS ladder and MP4 files, cuts
    it in the studio and shows the cut video's storyboard."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "offload.cli",
            "demo",
            "--data-dir",
            str(tmp_path / "demo"),
            "--port",
            str(free_port()),
            "--exit-when-done",
        ],
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert 0 == result.returncode, result.stdout + result.stderr
    out = result.stdout
    assert "Published 'Offload demo clip'" in out
    # The studio cut (seconds 1–4) went through and its storyboard (3 sprites of 192x108) too.
    assert "edited: 4 s → 3 s" in out
    assert re.search(
        r"storyboard: http://127\.0\.0\.1:\d+/lazy-static/storyboards/\S+\.jpg  \(576x108", out
    )
    assert re.search(
        r"HLS master playlist: http://127\.0\.0\.1:\d+/static/streaming-playlists/hls/[0-9a-f-]{36}/master\.m3u8",
        out,
    )
    assert 5 == len(re.findall(r"MP4 \d+p: http://", out))
    assert "admin UI: http://127.0.0.1:" in out
    instance_dir = tmp_path / "demo" / "instance"
    playlists = list(instance_dir.rglob("master.m3u8"))
    assert 1 == len(playlists)
    master = playlists[0].read_text()
    assert 5 == master.count("#EXT-X-STREAM-INF")
    variant = next(playlists[0].parent.glob("*-720.m3u8"))
    fragmented = (
        playlists[0].parent
        / next(
            line for line in variant.read_text().splitlines() if line.startswith("#EXT-X-MAP")
        ).split('"')[1]
    )
    with av.open(str(fragmented)) as container:
        stream = container.streams.video[0]
        assert (1280, 720) == (stream.codec_context.width, stream.codec_context.height)
