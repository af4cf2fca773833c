"""PeerTube's own command-line client (`peertube-cli`, pinned under tools/npm) against a running
instance: it logs in, uploads a generated clip and gets the video back, and the access token it
prints works on the admin API."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.clips import MediaClips
from tests.support import ADMIN_PASSWORD, RunningInstance

CLI = (
    Path(__file__).resolve().parents[2]
    / "tools"
    / "npm"
    / "node_modules"
    / "@peertube"
    / "peertube-cli"
    / "dist"
    / "peertube.js"
)
REQUIRE_NPM = os.environ.get("OFFLOAD_REQUIRE_NPM") == "1"


@pytest.fixture
def peertube_cli(tmp_path: Path) -> list[str]:
    """The command line to run the pinned client, or a loud skip (a failure under OFFLOAD_REQUIRE_NPM=1)."""
    node = shutil.which("node")
    if node is None or not CLI.is_file():
        message = "node or the pinned peertube-cli is missing (run `make npm-tools`)"
        if REQUIRE_NPM:
            pytest.fail(message + " but OFFLOAD_REQUIRE_NPM=1")
        pytest.skip(message + "; set OFFLOAD_REQUIRE_NPM=1 to make this fail")
    return [node, str(CLI)]


def run(command: list[str], home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Its settings and netrc go to a throwaway home.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
    }
    return subprocess.run(
        [*command, *args], env=env, capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.slow
def test_cli_logs_in_uploads_and_gets_the_video_back(
    instance: RunningInstance, media_clips: MediaClips, peertube_cli: list[str], tmp_path: Path
) -> None:
    """`auth add` then `upload` finish with success, and the video is there with its channel and account."""
    added = run(
        peertube_cli,
        tmp_path,
        "auth",
        "add",
        "-u",
        instance.url,
        "-U",
        "root",
        "-p",
        ADMIN_PASSWORD,
        "--default",
    )
    assert 0 == added.returncode, added.stdout + added.stderr

    uploaded = run(
        peertube_cli, tmp_path, "upload", "-f", str(media_clips.small), "-n", "from peertube-cli"
    )

    assert 0 == uploaded.returncode, uploaded.stdout + uploaded.stderr
    assert "Video from peertube-cli uploaded." in uploaded.stdout
    with instance.client() as c:
        listed = c.get("/api/v1/videos").json()["data"]
        assert ["from peertube-cli"] == [v["name"] for v in listed]
        assert ("root_channel", "root") == (
            listed[0]["channel"]["name"],
            listed[0]["account"]["name"],
        )


def test_cli_access_token_works_on_the_admin_api(
    instance: RunningInstance, peertube_cli: list[str], tmp_path: Path
) -> None:
    """`get-access-token` prints a bearer token that lists runners."""
    got = run(
        peertube_cli,
        tmp_path,
        "get-access-token",
        "--url",
        instance.url,
        "-n",
        "root",
        "-p",
        ADMIN_PASSWORD,
    )
    assert 0 == got.returncode, got.stdout + got.stderr

    with instance.client(headers={"Authorization": f"Bearer {got.stdout.strip()}"}) as c:
        r = c.get("/api/v1/runners")

    assert 200 == r.status_code, r.text
    assert {"total", "data"} <= set(r.json())
