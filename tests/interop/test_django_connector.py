"""The Offload runner against another server of PeerTube's runner protocol: openfun's
django-peertube-runner-connector (pinned in tools/django-connector, its own venv built by
`make django-connector`), unmodified, in a minimal Django project (`django_connector/`) served
by uvicorn on loopback with SQLite and file-system storage in the test's temp dir.

The connector only creates `vod-hls-transcoding` jobs for uploads (`transcode_video`: the top
resolution, then the lower ones waiting for it) and `video-transcription` jobs
(`transcript_video`), which the Offload runner has no engine for and so never asks for.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from offload.runner.config import RunnerConfig, runner_paths
from tests.media import make_clip
from tests.runner_home import RunnerHome
from tests.support import free_port, wait_until

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PROJECT_DIR = Path(__file__).resolve().parent
CONNECTOR_VERSION = "0.12.1"
CONNECTOR_PYTHON = Path(
    os.environ.get(
        "OFFLOAD_TEST_DJANGO_CONNECTOR_PYTHON",
        REPO / "tools" / "django-connector" / ".venv/bin/python",
    )
)
REQUIRE_CONNECTOR = (
    os.environ.get("OFFLOAD_REQUIRE_DJANGO_CONNECTOR") == "1" or os.environ.get("CI") == "true"
)

# The connector's RunnerJobState values.
PENDING, PROCESSING, COMPLETED, ERRORED, WAITING_FOR_PARENT = 1, 2, 3, 4, 5
FAILED = {ERRORED, 6, 7, 8}


def _unavailable(reason: str) -> None:
    message = (
        f"django-peertube-runner-connector unavailable: {reason} (run `make django-connector`)"
    )
    if REQUIRE_CONNECTOR:
        pytest.fail(message + " but CI / OFFLOAD_REQUIRE_DJANGO_CONNECTOR=1 requires it")
    pytest.skip(message + "; set OFFLOAD_REQUIRE_DJANGO_CONNECTOR=1 to make this fail")


def _check_tools() -> None:
    if not CONNECTOR_PYTHON.exists():
        _unavailable(f"no {CONNECTOR_PYTHON}")
    found = subprocess.run(
        [
            str(CONNECTOR_PYTHON),
            "-c",
            "from importlib.metadata import version;"
            " print(version('django-peertube-runner-connector'))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if found.stdout.strip() != CONNECTOR_VERSION:
        _unavailable(f"{CONNECTOR_PYTHON} has not version {CONNECTOR_VERSION}: {found.stderr}")
    # The connector probes uploads with ffprobe and makes thumbnails with ffmpeg, from PATH.
    for tool in ("ffprobe", "ffmpeg"):
        if shutil.which(tool) is None:
            _unavailable(f"no {tool} on PATH (Debian's ffmpeg package)")


@dataclass
class Connector:
    """A running connector server: its URL, data dir and a registration token."""

    url: str
    data_dir: Path
    registration_token: str

    @property
    def media(self) -> Path:
        return self.data_dir / "media"

    def jobs(self) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/jobs", timeout=10)
        assert 200 == answer.status_code, answer.text
        return list(answer.json()["jobs"])

    def upload(self, clip: Path, *, transcript: bool = False) -> dict[str, str]:
        answer = httpx.post(
            f"{self.url}/videos/upload",
            data={"transcript": "1"} if transcript else {},
            files={"videoFile": (clip.name, clip.read_bytes(), "video/mp4")},
            timeout=60,
        )
        assert 200 == answer.status_code, answer.text
        return dict(answer.json())


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(CONNECTOR_PYTHON), "-m", "django", *args],
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert 0 == done.returncode, done.stdout + done.stderr
    return done.stdout


def _server_up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/jobs", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def connector(tmp_path: Path) -> Iterator[Connector]:
    """The connector under uvicorn on a free loopback port, migrated, with a registration token
    made by its own management command (Django stays out of the pytest process)."""
    _check_tools()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "connector"
    data_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OFFLOAD_", "DJANGO_"))}
    env.update(
        CONNECTOR_DATA_DIR=str(data_dir),
        CONNECTOR_PUBLIC_URL=url,
        DJANGO_SETTINGS_MODULE="django_connector.settings",
        PYTHONPATH=str(PROJECT_DIR),
    )
    _manage(env, "migrate", "--verbosity", "0")
    created = _manage(env, "create_runner_registration_token")
    token = re.search(r"Created token: (\S+)", created)
    assert token is not None, created
    log = (data_dir / "server.log").open("wb")
    server = subprocess.Popen(
        [
            str(CONNECTOR_PYTHON),
            "-m",
            "uvicorn",
            "django_connector.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        cwd=PROJECT_DIR,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: server.poll() is not None or _server_up(url), 60, 0.2, "the connector")
        assert server.poll() is None, (data_dir / "server.log").read_text()
        yield Connector(url, data_dir, token.group(1))
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def _hls_jobs_done(connector: Connector, count: int) -> list[dict[str, Any]] | None:
    hls = [j for j in connector.jobs() if j["type"] == "vod-hls-transcoding"]
    failed = [j for j in hls if j["state"] in FAILED]
    assert not failed, failed
    return hls if len(hls) == count and all(j["state"] == COMPLETED for j in hls) else None


def _decoded_video(path: Path) -> tuple[int, int, int]:
    """(width, height, frames decoded) of the first video stream, decoded with PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return stream.codec_context.width, stream.codec_context.height, frames


def test_offload_runner_completes_the_connectors_hls_jobs(
    tmp_path: Path, home: RunnerHome, connector: Connector
) -> None:
    """register → daemon connected over socket.io → an upload makes the connector create a
    240p HLS job and a 144p one waiting for it → the runner completes both, the connector
    stores playlists and fragments that decode at those sizes; the transcription job the
    connector also makes (for the same upload) completes too: every type it offers."""
    registered = home.cli(
        "register",
        "--url",
        connector.url,
        "--registration-token",
        connector.registration_token,
        "--runner-name",
        "offload-on-django",
    )
    assert 0 == registered.returncode, registered.stdout + registered.stderr
    home.configure()
    home.start()
    wait_until(lambda: "connected to" in home.logs(), 30, 0.1, "the runner's socket.io link")

    started = connector.upload(make_clip(tmp_path / "clip.mp4", duration_s=2.0), transcript=True)

    jobs = wait_until(lambda: _hls_jobs_done(connector, 2), 90, 0.2, "both HLS jobs completed")
    assert [240, 144] == [j["payload"]["output"]["resolution"] for j in jobs], home.logs()
    assert all(j["failures"] == 0 for j in jobs), jobs
    transcription = wait_until(
        lambda: [
            j
            for j in connector.jobs()
            if j["type"] == "video-transcription" and j["state"] in (COMPLETED, *FAILED)
        ],
        90,
        0.2,
        "the transcription job ended",
    )
    assert [COMPLETED] == [j["state"] for j in transcription], home.logs()

    directory = connector.media / started["directory"]
    master = (directory / "master.m3u8").read_text()
    sizes = {240: (320, 240), 144: (192, 144)}
    for resolution, (width, height) in sizes.items():
        playlist_name = f"clip-{resolution}.m3u8"
        assert playlist_name in master, master
        assert f"RESOLUTION={width}x{height}" in master, master
        playlist = (directory / playlist_name).read_text()
        assert playlist.startswith("#EXTM3U") and "#EXT-X-ENDLIST" in playlist, playlist
        fragment = f"clip-{resolution}-fragmented.mp4"
        assert f'#EXT-X-MAP:URI="{fragment}"' in playlist, playlist
        decoded_width, decoded_height, frames = _decoded_video(directory / fragment)
        assert (width, height) == (decoded_width, decoded_height)
        assert frames >= 40, frames  # 2 s at 24-25 fps
    assert "completed vod-hls-transcoding" in home.logs()
    # The runner's WebVTT, stored by the connector beside the playlists under its language.
    [vtt] = list(directory.glob("*.vtt"))
    assert vtt.read_text().startswith("WEBVTT"), vtt.read_text()[:200]


def test_a_runner_the_connector_forgot_says_so(home: RunnerHome, connector: Connector) -> None:
    """The connector answers PeerTube's 404 "Unknown runner token" without its machine code:
    a runner deleted there (the connector's own unregister call) reports its token refused
    and keeps its registration, as against PeerTube."""
    registered = home.cli(
        "register",
        "--url",
        connector.url,
        "--registration-token",
        connector.registration_token,
        "--runner-name",
        "forgotten",
    )
    assert 0 == registered.returncode, registered.stdout + registered.stderr
    home.configure()
    config = RunnerConfig.load(runner_paths(environ=home.env).config_file)
    (registration,) = config.registered_instances
    deleted = httpx.post(
        f"{connector.url}/api/v1/runners/unregister",
        json={"runnerToken": registration.runner_token},
        timeout=10,
    )
    assert 204 == deleted.status_code, deleted.text

    home.start()

    wait_until(
        lambda: "does not know the runner token" in home.logs(), 30, 0.1, "the token refusal"
    )
    assert "forgotten" in home.cli("list-registered").stdout
