"""Runner uploads (`update`/`success` multipart): the tokens are checked before any file byte is
kept, bodies and file parts are capped by job type, and a refused upload leaves no temp file.

The calls that the server answers before the body is over go through a raw socket: an httpx
client still sending would see the connection close instead of the answer.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from offload.domain.jobs import JobSpec, JobType
from tests.conformance import assert_problem
from tests.ladder import register_runner
from tests.rawhttp import RawAnswer, chunked, multipart_body, send_partial
from tests.support import RunningInstance

KIB = 1024
MIB = 1024 * KIB
#: The file part the partial uploads below start to send (then they stop and read).
FILE_START = 256 * KIB
#: A file field each call takes.
FILE_FIELD = {"update": "payload[videoChunkFile]", "success": "payload[videoFile]"}


@dataclass
class HeldJob:
    """A job a registered runner accepted: what a runner posts its upload with."""

    instance: RunningInstance
    uuid: str
    runner_token: str
    job_token: str

    def path(self, action: str) -> str:
        return f"/api/v1/runners/jobs/{self.uuid}/{action}"

    def tokens(self, **changes: str) -> list[tuple[str, bytes, str | None]]:
        values = {"runnerToken": self.runner_token, "jobToken": self.job_token, **changes}
        return [(name, value.encode(), None) for name, value in values.items()]

    def leftovers(self) -> list[str]:
        """Temp files of uploads in flight or abandoned."""
        uploads = self.instance.settings.data_dir / "tmp" / "uploads"
        return sorted(os.listdir(uploads)) if uploads.exists() else []

    def start_upload(self, action: str, parts: list[tuple[str, bytes, str | None]], file_bytes: int, declared: int | None) -> RawAnswer:
        """Send `parts`, then the head of a file part and `file_bytes` of it, and read the
        answer; `declared` is the Content-Length announced (None: chunked, never finished)."""
        content_type, body = multipart_body(parts, boundary="b0undary")
        start = body[: -len(b"--b0undary--\r\n")]
        head = f'--b0undary\r\nContent-Disposition: form-data; name="{FILE_FIELD[action]}"; filename="o"\r\n\r\n'
        start += head.encode()
        start += os.urandom(file_bytes)
        headers = {"Content-Type": content_type}
        if declared is None:
            headers["Transfer-Encoding"] = "chunked"
            start = chunked(start, last=False)
        else:
            headers["Content-Length"] = str(declared)
        return send_partial(self.instance.url, "POST", self.path(action), headers, start)


def hold_job(instance: RunningInstance, job_type: JobType = JobType.VOD_WEB_VIDEO) -> HeldJob:
    runner_token = register_runner(instance, name=f"runner-{uuid.uuid4().hex[:6]}")["runnerToken"]
    spec = JobSpec(job_type, {"input": {}, "output": {}}, {"videoUUID": str(uuid.uuid4())}, priority=100)
    [job] = instance.call(instance.services.jobs.enqueue, [spec])
    with instance.client() as client:
        accepted = client.post(f"/api/v1/runners/jobs/{job.uuid}/accept", json={"runnerToken": runner_token})
    assert 200 == accepted.status_code, accepted.text
    return HeldJob(instance, job.uuid, runner_token, accepted.json()["job"]["jobToken"])


def assert_too_large(answer: RawAnswer) -> None:
    assert 413 == answer.status, answer.body
    assert "application/problem+json" == answer.headers["content-type"]
    body = answer.json()
    assert (413, "PayloadTooLargeError") == (body["status"], body["code"])
    assert isinstance(body["detail"], str)
    assert answer.closed, "the server kept reading an upload it refused"


@pytest.mark.parametrize("action", ["update", "success"])
def test_a_declared_length_over_every_cap_is_refused_unread(instance: RunningInstance, action: str) -> None:
    """A Content-Length above the largest upload cap is a 413 before any byte of the body."""
    job = hold_job(instance)
    declared = instance.settings.runner_video_upload_max_bytes + 64 * MIB
    headers = {"Content-Type": "multipart/form-data; boundary=b0undary", "Content-Length": str(declared)}

    answer = send_partial(instance.url, "POST", job.path(action), headers, b"")

    assert_too_large(answer)
    assert [] == job.leftovers()


#: Token changes that make a job-bound call fail, by name.
BAD_TOKENS: dict[str, Callable[[HeldJob, HeldJob], dict[str, str]]] = {
    "unknown runner token": lambda job, other: {"runnerToken": "ptrt-" + str(uuid.uuid4())},
    "unknown job token": lambda job, other: {"jobToken": "ptrjt-" + str(uuid.uuid4())},
    "another runner": lambda job, other: {"runnerToken": other.runner_token},
    "another job's token": lambda job, other: {"jobToken": other.job_token},
    "empty job token": lambda job, other: {"jobToken": ""},
}


@pytest.mark.parametrize("action", ["update", "success"])
def test_bad_tokens_stop_the_upload_before_any_file_is_kept(instance: RunningInstance, action: str) -> None:
    """With bad tokens the answer comes while the file is still on its way, is the one a whole
    body gets (same status, detail and code), and no temp file is left."""
    job, other = hold_job(instance), hold_job(instance)
    early: dict[str, tuple[int, str, Any]] = {}
    whole: dict[str, tuple[int, str, Any]] = {}
    for name, change in BAD_TOKENS.items():
        parts = job.tokens(**change(job, other))
        answer = job.start_upload(action, parts, FILE_START, declared=100 * MIB)
        assert answer.closed, name
        body = answer.json()
        early[name] = (answer.status, body["detail"], body.get("code"))
        with instance.client() as client:
            files = [(n, (f, v)) for n, v, f in parts] + [(FILE_FIELD[action], ("o", b"small output"))]
            r = client.post(job.path(action), files=files)
        whole[name] = (r.status_code, r.json()["detail"], r.json().get("code"))

    assert whole == early
    assert {404, 400} == {status for status, _, _ in early.values()}
    assert [] == job.leftovers()


def test_a_file_over_its_job_types_cap_is_refused_and_removed(instance_factory: Callable[..., RunningInstance]) -> None:
    """A storyboard image past the image cap, sent chunked, is a 413 as soon as the cap is
    crossed, and its temp file is removed; a file within the cap is taken."""
    instance = instance_factory(runner_image_upload_max_bytes=64 * KIB)
    job = hold_job(instance, JobType.STORYBOARD)

    answer = job.start_upload("success", job.tokens(), 512 * KIB, declared=None)

    assert_too_large(answer)
    assert [] == job.leftovers()
    with instance.client() as client:
        files = [(n, (f, v)) for n, v, f in job.tokens()] + [("payload[storyboardFile]", ("s.jpg", os.urandom(60 * KIB)))]
        assert 204 == client.post(job.path("success"), files=files).status_code


def test_a_declared_length_over_the_job_types_cap_is_refused_after_the_tokens(instance_factory: Callable[..., RunningInstance]) -> None:
    """Once the tokens name a storyboard job, a Content-Length beyond what a storyboard upload
    may take is a 413 before the file is read."""
    instance = instance_factory(runner_image_upload_max_bytes=64 * KIB)
    job = hold_job(instance, JobType.STORYBOARD)

    answer = job.start_upload("success", job.tokens(), 0, declared=64 * MIB)

    assert_too_large(answer)
    assert [] == job.leftovers()


def test_files_sent_before_the_tokens_are_refused(instance: RunningInstance) -> None:
    """PeerTube's runner and Offload's send both tokens before any file; a file first is a 400
    naming the tokens, and leaves nothing behind."""
    job = hold_job(instance)
    files = [("payload[videoFile]", ("o.mp4", b"output"))] + [(n, (f, v)) for n, v, f in job.tokens()]

    with instance.client() as client:
        r = client.post(job.path("success"), files=files)

    body = assert_problem(r, 400)
    assert {"runnerToken", "jobToken"} == set(body["invalid-params"])
    assert [] == job.leftovers()


def test_text_fields_over_their_total_cap_are_refused(instance: RunningInstance) -> None:
    """Text parts are held in memory, so their total is capped (6 × 60 KiB > 256 KiB): 413."""
    job = hold_job(instance)
    notes = [(f"note{i}", b"n" * 60 * KIB, None) for i in range(6)]
    content_type, body = multipart_body(job.tokens() + notes)

    with instance.client() as client:
        r = client.post(job.path("update"), content=body, headers={"Content-Type": content_type})

    assert_problem(r, 413, code="PayloadTooLargeError")


def test_an_urlencoded_body_over_its_cap_is_refused(instance: RunningInstance) -> None:
    """The url-encoded form some clients use for file-less updates is capped too: 413."""
    job = hold_job(instance)
    form = {"runnerToken": job.runner_token, "jobToken": job.job_token, "note": "n" * 300 * KIB}

    with httpx.Client(base_url=instance.url) as client:
        r = client.post(job.path("update"), data=form)

    assert_problem(r, 413, code="PayloadTooLargeError")
