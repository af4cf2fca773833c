"""`offload videos upload`: a resumable upload with a progress bar, then the playable URL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from offload.cli import app
from tests.clips import MediaClips
from tests.support import ADMIN_PASSWORD, RunningInstance, start_instance

pytestmark = pytest.mark.slow


@pytest.fixture
def local_instance(tmp_path: Path) -> Iterator[RunningInstance]:
    instance = start_instance(tmp_path / "data", remote_vod=False)
    yield instance
    instance.stop()


def test_upload_waits_and_prints_a_playable_url(
    local_instance: RunningInstance, media_clips: MediaClips
) -> None:
    """With --wait the command prints the master playlist URL once the video is published."""
    result = CliRunner().invoke(
        app,
        [
            "videos",
            "upload",
            str(media_clips.small),
            "--url",
            local_instance.url,
            "--password",
            ADMIN_PASSWORD,
            "--name",
            "from the cli",
            "--wait",
            "--wait-timeout-s",
            "90",
        ],
    )

    assert 0 == result.exit_code, result.output
    url = result.stdout.strip().splitlines()[-1]
    assert url.endswith("/master.m3u8")
    assert 200 == httpx.get(url, timeout=10.0).status_code


def test_refused_file_fails_the_command(
    local_instance: RunningInstance, media_clips: MediaClips
) -> None:
    """A text file is refused: the reason is shown and the exit status is 1."""
    result = CliRunner().invoke(
        app,
        [
            "videos",
            "upload",
            str(media_clips.text),
            "--url",
            local_instance.url,
            "--password",
            ADMIN_PASSWORD,
        ],
    )

    assert 1 == result.exit_code
    assert "unreadable" in result.output
