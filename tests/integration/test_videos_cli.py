"""`offload videos upload`: a resumable upload with a progress bar, then the playable URL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from offload.cli import app
from tests.clips import MediaClips, upload_video
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


def test_edit_cuts_a_video_and_waits_for_the_new_version(tmp_path: Path) -> None:
    """`offload videos edit ID --cut 1:3 --watermark mark.png --wait`: the instance's own worker
    runs the edit; the command prints the new playable URL once the 2 s version is published.
    Malformed options and a refused edit exit 1 (or 2, typer's usage error) with the reason."""
    from tests.integration.test_studio_api import picture
    from tests.media import make_clip

    instance = start_instance(
        tmp_path / "data", transcoding_enabled=False, storyboards_enabled=False, remote_studio=False
    )
    try:
        clip = make_clip(tmp_path / "four.mp4", duration_s=4.0)
        video = upload_video(instance, clip)
        common = ["--url", instance.url, "--password", ADMIN_PASSWORD]
        mark = picture(tmp_path / "mark.png")

        result = CliRunner().invoke(
            app,
            ["videos", "edit", video, "--cut", "1:3", "--watermark", str(mark), "--wait", *common],
        )
        bad_cut = CliRunner().invoke(app, ["videos", "edit", video, "--cut", "x", *common])
        past_end = CliRunner().invoke(app, ["videos", "edit", video, "--cut", "7:", *common])

        assert 0 == result.exit_code, result.output
        url = result.stdout.strip().splitlines()[-1]
        assert 200 == httpx.get(url, timeout=10.0).status_code
        with instance.client() as c:
            assert 2 == c.get(f"/api/v1/videos/{video}").json()["duration"]
        assert (2, "START:END") == (
            bad_cut.exit_code,
            "START:END" if "START:END" in bad_cut.output else bad_cut.output,
        )
        assert 1 == past_end.exit_code
        assert "the video lasts 2.00 s" in past_end.output
    finally:
        instance.stop()
