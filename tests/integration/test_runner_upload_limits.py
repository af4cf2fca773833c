"""Runner uploads (`update`/`success` multipart): the tokens are checked before any file byte is
kept, bodies and file parts are capped by job type, and a refused upload leaves no temp file.

The calls that the server answers before the body is over go through a raw socket: an httpx
client still sending would see the connection close instead of the answer.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from offload.domain.jobs import JobType
from tests.conformance import assert_problem
from tests.rawhttp import assert_too_large, multipart_body, send_partial
from tests.runner_jobs import FILE_FIELD, HeldJob, hold_job
from tests.support import RunningInstance

KIB = 1024
MIB = 1024 * KIB
#: The file part the partial uploads below start to send (then they stop and read).
FILE_START = 256 * KIB


@pytest.mark.parametrize("action", ["update", "success"])
def test_a_declared_length_over_every_cap_is_refused_unread(
    instance: RunningInstance, action: str
) -> None:
    """A Content-Length above the largest upload cap is a 413 before any byte of the body."""
    job = hold_job(instance)
    declared = instance.settings.runner_video_upload_max_bytes + 64 * MIB
    headers = {
        "Content-Type": "multipart/form-data; boundary=b0undary",
        "Content-Length": str(declared),
    }

    answer = send_partial(instance.url, "POST", job.path(action), headers, b"")

    assert_too_large(answer)
    assert [] == job.leftovers()


#: Token changes that make a job-bound call fail, by name: from a client that is no runner
#: (answered at once, the rest of the body unread) ...
STRANGER_TOKENS: dict[str, Callable[[HeldJob, HeldJob], dict[str, str]]] = {
    "unknown runner token": lambda job, other: {"runnerToken": "ptrt-" + str(uuid.uuid4())},
    "empty job token": lambda job, other: {"jobToken": ""},
}
#: ... and from a registered runner about a job that is not its own.
RUNNER_TOKENS: dict[str, Callable[[HeldJob, HeldJob], dict[str, str]]] = {
    "unknown job token": lambda job, other: {"jobToken": "ptrjt-" + str(uuid.uuid4())},
    "another runner": lambda job, other: {"runnerToken": other.runner_token},
    "another job's token": lambda job, other: {"jobToken": other.job_token},
}


def _whole_body_answer(
    job: HeldJob, action: str, parts: list[tuple[str, bytes, str | None]], file_bytes: bytes
) -> tuple[int, str, Any]:
    with job.instance.client() as client:
        files = [(n, (f, v)) for n, v, f in parts] + [(FILE_FIELD[action], ("o", file_bytes))]
        r = client.post(job.path(action), files=files)
    return r.status_code, r.json()["detail"], r.json().get("code")


@pytest.mark.parametrize("action", ["update", "success"])
def test_bad_tokens_stop_the_upload_before_any_file_is_kept(
    instance: RunningInstance, action: str
) -> None:
    """With tokens of no runner the answer comes while the file is still on its way, is the one
    a whole body gets (same status, detail and code), and no temp file is left."""
    job, other = hold_job(instance), hold_job(instance)
    early: dict[str, tuple[int, str, Any]] = {}
    whole: dict[str, tuple[int, str, Any]] = {}
    for name, change in STRANGER_TOKENS.items():
        parts = job.tokens(**change(job, other))
        answer = job.start_upload(action, parts, FILE_START, declared=100 * MIB)
        assert answer.closed, name
        body = answer.json()
        early[name] = (answer.status, body["detail"], body.get("code"))
        whole[name] = _whole_body_answer(job, action, parts, b"small output")

    assert whole == early
    assert {404, 400} == {status for status, _, _ in early.values()}
    assert [] == job.leftovers()


@pytest.mark.parametrize("action", ["update", "success"])
def test_a_runner_posting_to_a_job_not_its_own_keeps_nothing(
    instance: RunningInstance, action: str
) -> None:
    """A registered runner's upload for a job it does not hold gets the same 404 with a large
    body as with a small one, and no byte of it is kept."""
    job, other = hold_job(instance), hold_job(instance)
    for name, change in RUNNER_TOKENS.items():
        parts = job.tokens(**change(job, other))
        small = _whole_body_answer(job, action, parts, b"small output")
        large = _whole_body_answer(job, action, parts, os.urandom(8 * MIB))
        assert (404, "Unknown runner job") == small[:2], name
        assert small == large, name
    assert [] == job.leftovers()


def test_a_file_over_its_job_types_cap_is_refused_and_removed(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """A storyboard image past the image cap, sent chunked, is a 413 as soon as the cap is
    crossed, and its temp file is removed; a file within the cap is taken."""
    instance = instance_factory(runner_image_upload_max_bytes=64 * KIB)
    job = hold_job(instance, JobType.STORYBOARD)

    answer = job.start_upload("success", job.tokens(), 512 * KIB, declared=None)

    assert_too_large(answer)
    assert [] == job.leftovers()
    with instance.client() as client:
        files = [(n, (f, v)) for n, v, f in job.tokens()] + [
            ("payload[storyboardFile]", ("s.jpg", os.urandom(60 * KIB)))
        ]
        assert 204 == client.post(job.path("success"), files=files).status_code


def test_a_declared_length_over_the_job_types_cap_is_refused_after_the_tokens(
    instance_factory: Callable[..., RunningInstance],
) -> None:
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
    files = [("payload[videoFile]", ("o.mp4", b"output"))] + [
        (n, (f, v)) for n, v, f in job.tokens()
    ]

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


@pytest.mark.parametrize("action", ["update", "success"])
def test_a_known_runner_uploading_to_a_cancelled_job_reads_its_404(
    instance: RunningInstance, action: str
) -> None:
    """A registered runner still sending a large output for a job cancelled meanwhile reads the
    404 that tells it to stop, although the connection closes under its upload; nothing of the
    upload is kept."""
    job = hold_job(instance)
    with instance.admin() as admin:
        assert 204 == admin.post(f"/api/v1/runners/jobs/{job.uuid}/cancel").status_code

    with instance.client() as c:
        r = c.post(
            job.path(action),
            data={"runnerToken": job.runner_token, "jobToken": job.job_token},
            files={FILE_FIELD[action]: ("o", os.urandom(24 * MIB))},
        )

    assert_problem(r, 404, detail="Unknown runner job")
    assert [] == job.leftovers()
