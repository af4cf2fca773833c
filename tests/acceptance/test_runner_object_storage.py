"""End to end: the `offload runner` CLI serves a server that keeps its files in object storage,
like django-peertube-runner-connector or PeerTube with custom uploads: the input download is
redirected to the storage on another host and port, and the output goes there by custom upload.

The server is a minimal loopback stand-in for PeerTube's runner protocol (one job), because an
Offload instance neither redirects downloads nor asks for custom uploads."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from offload.media import probe
from offload.runner.client import runner_version
from tests.loopback import Answer, Seen, file_answer, loopback_server
from tests.media import make_clip
from tests.runner_home import RunnerHome

pytestmark = pytest.mark.slow

RUNNER_TOKEN = "ptrt-secret-runner"
JOB_TOKEN = "ptrjt-secret-job"


class OneJobServer:
    """PeerTube's runner routes for one web-video job whose files live in `storage_url`."""

    def __init__(self, storage_url: str, redirect_status: int) -> None:
        self.job_uuid = str(uuid.uuid4())
        self.video_uuid = str(uuid.uuid4())
        self.storage_url = storage_url
        self.redirect_status = redirect_status
        self.accepted = False
        self.url = ""

    def payload(self) -> dict[str, Any]:
        files = f"{self.url}/api/v1/runners/jobs/{self.job_uuid}/files/videos/{self.video_uuid}"
        return {
            "input": {"videoFileUrl": f"{files}/max-quality", "separatedAudioFileUrl": []},
            "output": {
                "resolution": 144,
                "fps": 15,
                "videoFileCustomUpload": {
                    "url": f"{self.storage_url}/bucket/out-144.mp4?X-Amz-Signature=s1"
                },
            },
        }

    def route(self, seen: Seen) -> Answer:
        body = (
            json.loads(seen.body) if seen.headers.get("content-type") == "application/json" else {}
        )
        path = seen.path.removeprefix("/api/v1/runners")
        job = {
            "uuid": self.job_uuid,
            "type": "vod-web-video-transcoding",
            "payload": self.payload(),
        }
        if path == "/register":
            return _json(200, {"id": 1, "runnerToken": RUNNER_TOKEN})
        if path == "/jobs/request":
            return _json(200, {"availableJobs": [] if self.accepted else [job]})
        if path == f"/jobs/{self.job_uuid}/accept" and body.get("runnerToken") == RUNNER_TOKEN:
            self.accepted = True
            return _json(200, {"job": {**job, "jobToken": JOB_TOKEN}})
        if re.fullmatch(rf"/jobs/{self.job_uuid}/(update|success)", path):
            return Answer(204)
        if path.startswith(f"/jobs/{self.job_uuid}/files/") and body == {
            "runnerToken": RUNNER_TOKEN,
            "jobToken": JOB_TOKEN,
        }:
            return Answer(
                self.redirect_status, {"Location": f"{self.storage_url}/bucket/source.mp4"}
            )
        return _json(
            404, {"status": 404, "detail": "Not found"}
        )  # jobs/claim, socket.io: PeerTube has neither here


def _json(status: int, body: object) -> Answer:
    return Answer(status, {"Content-Type": "application/json"}, json.dumps(body).encode())


@pytest.mark.parametrize("redirect_status", [301, 307])
def test_a_job_with_files_in_object_storage_completes(
    tmp_path: Path, home: RunnerHome, redirect_status: int
) -> None:  # noqa: F811  the fixture
    """The download follows the redirect to the storage without the tokens, the output is PUT there, success carries no file; register and request carry the runner's version."""
    source = make_clip(tmp_path / "source.mp4", duration_s=1.0).read_bytes()
    stored: list[Seen] = []

    def storage(seen: Seen) -> Answer:
        if seen.method == "PUT":
            stored.append(seen)
            return Answer(200)
        return file_answer(source, seen)

    with loopback_server(storage, host="localhost") as bucket:
        server = OneJobServer(bucket.url, redirect_status)
        with loopback_server(server.route) as front:
            server.url = front.url
            registered = home.cli(
                "register",
                "--url",
                front.url,
                "--registration-token",
                "ptrrt-x",
                "--runner-name",
                "r1",
            )
            assert 0 == registered.returncode, registered.stderr
            home.configure()

            run = home.cli("server", "--once")

    assert 0 == run.returncode, run.stdout + run.stderr
    [download] = [s for s in bucket.seen if s.method != "PUT"]
    [upload] = stored
    [success] = [s for s in front.seen if s.path.endswith("/success")]
    assert ("GET", b"", False) == (
        download.method,
        download.body,
        "secret" in str(download.headers),
    )
    assert ("/bucket/out-144.mp4?X-Amz-Signature=s1", False) == (
        upload.target,
        b"secret" in upload.body or "secret" in str(upload.headers),
    )
    assert b"payload[videoFile]" not in success.body
    versions = {
        s.path.rsplit("/", 1)[1]: json.loads(s.body).get("version")
        for s in front.seen
        if s.path.endswith(("/register", "/request"))
    }
    assert {"register": runner_version(), "request": runner_version()} == versions
    assert b'name="runnerToken"' in success.body
    output = tmp_path / "out.mp4"
    output.write_bytes(upload.body.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n--", 1)[0])
    info = probe(output)
    assert (True, 144) == (info.has_video, info.video.height if info.video else None)
