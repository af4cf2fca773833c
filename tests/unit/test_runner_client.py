"""The runner's HTTP client against a fake instance at the network edge (httpx.MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from offload.runner.client import InstanceClient, RetryPolicy
from offload.runner.errors import (
    InstanceError,
    InstanceUnreachable,
    JobGoneError,
    JobNotPendingError,
    UnknownRunnerTokenError,
)

URL = "http://instance.test"
JOB = "5a3b0f44-8a2c-4c1e-9f6e-2d7a9b1c0e11"
FILE_URL = f"{URL}/api/v1/runners/jobs/{JOB}/files/videos/v1/max-quality"

Handler = Callable[[httpx.Request], httpx.Response]


async def _no_sleep(_: float) -> None:
    return None


def _client(handler: Handler, attempts: int = 4) -> InstanceClient:
    return InstanceClient(
        URL,
        retry=RetryPolicy(attempts=attempts),
        transport=httpx.MockTransport(handler),
        sleep=_no_sleep,
    )


def _problem(status: int, code: str | None = None, detail: str = "nope") -> httpx.Response:
    body = {"status": status, "detail": detail, **({"code": code} if code else {})}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


def _fields(request: httpx.Request) -> dict[str, str]:
    """Text fields of a multipart request, by name."""
    body = request.read().decode("latin-1")
    boundary = request.headers["content-type"].split("boundary=")[1]
    fields = {}
    for part in body.split(f"--{boundary}")[1:-1]:
        head, _, value = part.partition("\r\n\r\n")
        name = head.split('name="')[1].split('"')[0]
        fields[name] = value.removesuffix("\r\n")
    return fields


class TestJobCalls:
    async def test_request_sends_token_types_and_version(self) -> None:
        """jobs/request carries runnerToken, jobTypes and version, returns availableJobs."""
        seen: list[dict[str, object]] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(json.loads(request.content))
            return httpx.Response(
                200,
                json={
                    "availableJobs": [{"uuid": JOB, "type": "vod-hls-transcoding", "payload": {}}]
                },
            )

        async with _client(handler) as client:
            jobs = await client.request_jobs("ptrt-1", ["vod-hls-transcoding"])

        assert [JOB] == [j["uuid"] for j in jobs]
        assert {
            "runnerToken": "ptrt-1",
            "jobTypes": ["vod-hls-transcoding"],
            "version": "0.1.0",
        } == seen[0]

    async def test_unknown_runner_token_is_its_own_error(self) -> None:
        """The machine code maps to UnknownRunnerTokenError."""
        async with _client(lambda r: _problem(404, "unknown_runner_token")) as client:
            with pytest.raises(UnknownRunnerTokenError):
                await client.request_jobs("ptrt-1")

    async def test_unknown_runner_token_without_a_code_is_the_token_error(self) -> None:
        """django-peertube-runner-connector says PeerTube's "Unknown runner token" with no
        machine code: still the token error on the runner's own calls."""
        codeless = httpx.Response(404, json={"detail": "Unknown runner token"})
        async with _client(lambda r: codeless) as client:
            with pytest.raises(UnknownRunnerTokenError):
                await client.request_jobs("ptrt-1")
            with pytest.raises(UnknownRunnerTokenError):
                await client.accept("ptrt-1", JOB)

    async def test_a_codeless_404_on_a_job_call_is_still_the_job_gone(self) -> None:
        """On a job's calls a 404 keeps meaning the job is gone, whatever its text."""
        codeless = httpx.Response(404, json={"detail": "Unknown runner token"})
        async with _client(lambda r: codeless) as client:
            with pytest.raises(JobGoneError):
                await client.update("ptrt-1", JOB, "ptrjt-1", 10)

    async def test_a_message_body_is_the_error_detail(self) -> None:
        """The connector puts its refusal in `message` (register, unregister): shown as is."""
        refusal = httpx.Response(404, json={"message": "Registration token is invalid"})
        async with _client(lambda r: refusal) as client:
            with pytest.raises(InstanceError, match="Registration token is invalid") as caught:
                await client.register("ptrrt-1", "r1")
        assert not isinstance(caught.value, UnknownRunnerTokenError)

    async def test_accept_race_is_job_not_pending(self) -> None:
        """409 runner_job_not_in_pending_state on accept → JobNotPendingError."""
        async with _client(lambda r: _problem(409, "runner_job_not_in_pending_state")) as client:
            with pytest.raises(JobNotPendingError):
                await client.accept("ptrt-1", JOB)

    async def test_accept_is_never_retried(self) -> None:
        """A 503 on accept is not repeated: a retry could take a second job or fail confusingly."""
        calls: list[int] = []

        def handler(request: httpx.Request) -> httpx.Response:
            calls.append(1)
            return _problem(503)

        async with _client(handler) as client:
            with pytest.raises(InstanceError):
                await client.accept("ptrt-1", JOB)

        assert 1 == len(calls)

    async def test_update_is_multipart_with_progress(self) -> None:
        """Progress updates are multipart, like the official client's."""
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(204)

        async with _client(handler) as client:
            await client.update("ptrt-1", JOB, "ptrjt-1", 42)

        assert seen[0].headers["content-type"].startswith("multipart/form-data")
        assert {"runnerToken": "ptrt-1", "jobToken": "ptrjt-1", "progress": "42"} == _fields(
            seen[0]
        )

    async def test_update_404_means_the_job_is_gone(self) -> None:
        """404 Unknown runner job on a job-bound call → JobGoneError."""
        async with _client(lambda r: _problem(404, detail="Unknown runner job")) as client:
            with pytest.raises(JobGoneError):
                await client.update("ptrt-1", JOB, "ptrjt-1", 10)

    async def test_transient_failures_are_retried(self) -> None:
        """503 then a dropped connection, then 204: the update succeeds on the third try."""
        answers: list[Handler] = [
            lambda r: _problem(503),
            lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused")),
            lambda r: httpx.Response(204),
        ]

        def handler(request: httpx.Request) -> httpx.Response:
            return answers.pop(0)(request)

        async with _client(handler) as client:
            await client.update("ptrt-1", JOB, "ptrjt-1", 10)

        assert [] == answers

    async def test_unreachable_after_every_retry(self) -> None:
        """Connection errors on every attempt → InstanceUnreachable."""

        def handler(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused")

        async with _client(handler) as client:
            with pytest.raises(InstanceUnreachable):
                await client.update("ptrt-1", JOB, "ptrjt-1", 10)

    async def test_redirects_are_not_followed(self) -> None:
        """A 301 (http → https) is reported with its target instead of turning POST into GET."""
        async with _client(
            lambda r: httpx.Response(301, headers={"location": "https://instance.test/"})
        ) as client:
            with pytest.raises(InstanceError) as caught:
                await client.register("ptrrt-1", "r1")

        assert "https://instance.test/" in str(caught.value)


class TestSuccess:
    async def test_files_are_streamed_as_payload_parts(self, tmp_path: Path) -> None:
        """success posts payload[videoFile] with the file's bytes and name."""
        video = tmp_path / "out.mp4"
        video.write_bytes(b"\x00mp4 bytes")
        seen: list[bytes] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request.read())
            return httpx.Response(204)

        async with _client(handler) as client:
            await client.success("ptrt-1", JOB, "ptrjt-1", {"videoFile": video})

        assert b'name="payload[videoFile]"; filename="out.mp4"' in seen[0]
        assert b"\x00mp4 bytes" in seen[0]

    async def test_retry_after_a_lost_answer_counts_as_done(self, tmp_path: Path) -> None:
        """The first attempt lands but its answer is lost; the retry's 'not processing' is success."""
        video = tmp_path / "out.mp4"
        video.write_bytes(b"x")
        calls: list[int] = []

        def handler(request: httpx.Request) -> httpx.Response:
            calls.append(1)
            if len(calls) == 1:
                raise httpx.ReadTimeout("answer lost")
            return _problem(400, "runner_job_not_in_processing_state")

        async with _client(handler) as client:
            await client.success("ptrt-1", JOB, "ptrjt-1", {"videoFile": video})

        assert 2 == len(calls)

    async def test_not_processing_on_the_first_attempt_is_job_gone(self, tmp_path: Path) -> None:
        """Without an earlier attempt, 'not processing' means the job is not ours any more."""
        video = tmp_path / "out.mp4"
        video.write_bytes(b"x")

        async with _client(lambda r: _problem(400, "runner_job_not_in_processing_state")) as client:
            with pytest.raises(JobGoneError):
                await client.success("ptrt-1", JOB, "ptrjt-1", {"videoFile": video})


class TestDownload:
    async def test_body_is_written_and_tokens_posted(self, tmp_path: Path) -> None:
        """POST {runnerToken, jobToken}, body to disk, query string kept."""
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(200, content=b"0123456789")

        async with _client(handler) as client:
            await client.download(FILE_URL + "?x=1", "ptrt-1", "ptrjt-1", tmp_path / "in")

        assert b"0123456789" == (tmp_path / "in").read_bytes()
        assert ({"runnerToken": "ptrt-1", "jobToken": "ptrjt-1"}, "x=1") == (
            json.loads(seen[0].content),
            seen[0].url.query.decode(),
        )

    async def test_a_cut_body_resumes_with_range(self, tmp_path: Path) -> None:
        """5 of 10 bytes, then `Range: bytes=5-` and a 206 with the rest."""
        ranges: list[str | None] = []

        def handler(request: httpx.Request) -> httpx.Response:
            ranges.append(request.headers.get("range"))
            if len(ranges) == 1:
                return httpx.Response(200, headers={"content-length": "10"}, content=b"01234")
            return httpx.Response(206, headers={"content-range": "bytes 5-9/10"}, content=b"56789")

        async with _client(handler) as client:
            await client.download(FILE_URL, "ptrt-1", "ptrjt-1", tmp_path / "in")

        assert ([None, "bytes=5-"], b"0123456789") == (ranges, (tmp_path / "in").read_bytes())

    async def test_a_server_ignoring_range_restarts_from_zero(self, tmp_path: Path) -> None:
        """A 200 answer to a Range request rewrites the file instead of appending."""
        answers = [
            httpx.Response(200, headers={"content-length": "10"}, content=b"01234"),
            httpx.Response(200, content=b"0123456789"),
        ]

        async with _client(lambda r: answers.pop(0)) as client:
            await client.download(FILE_URL, "ptrt-1", "ptrjt-1", tmp_path / "in")

        assert b"0123456789" == (tmp_path / "in").read_bytes()

    async def test_always_short_fails_and_leaves_nothing(self, tmp_path: Path) -> None:
        """A length that never matches fails after the retries, without a partial file."""
        from offload.runner.errors import TransferError

        async with _client(
            lambda r: httpx.Response(200, headers={"content-length": "10"}, content=b"01234"),
            attempts=2,
        ) as client:
            with pytest.raises(TransferError):
                await client.download(FILE_URL, "ptrt-1", "ptrjt-1", tmp_path / "in")

        assert [] == list(tmp_path.iterdir())

    async def test_refused_download_is_not_retried(self, tmp_path: Path) -> None:
        """A 403 is final and names the URL."""
        calls: list[int] = []

        def handler(request: httpx.Request) -> httpx.Response:
            calls.append(1)
            return _problem(403, detail="Job is not associated to this video")

        async with _client(handler) as client:
            with pytest.raises(InstanceError) as caught:
                await client.download(FILE_URL, "ptrt-1", "ptrjt-1", tmp_path / "in")

        assert (1, True) == (len(calls), FILE_URL in str(caught.value))

    async def test_reuse_skips_the_body(self, tmp_path: Path) -> None:
        """When `reuse` accepts the headers nothing is written."""
        async with _client(lambda r: httpx.Response(200, content=b"0123456789")) as client:
            headers = await client.download(
                FILE_URL,
                "ptrt-1",
                "ptrjt-1",
                tmp_path / "in",
                reuse=lambda h: h["content-length"] == "10",
            )

        assert (None, []) == (headers, list(tmp_path.iterdir()))


async def test_claim_on_an_instance_without_the_route_is_none() -> None:
    """PeerTube answers an unknown API route with 404 (no code): the runner falls back."""
    client = _client(lambda request: _problem(404))

    assert None is await client.claim_jobs("ptrt-x", ["vod-hls-transcoding"], 2)


async def test_claim_with_an_unknown_token_is_the_token_error() -> None:
    client = _client(lambda request: _problem(404, "unknown_runner_token"))

    with pytest.raises(UnknownRunnerTokenError):
        await client.claim_jobs("ptrt-x", ["vod-hls-transcoding"], 2)


async def test_claim_is_sent_once_even_on_a_5xx() -> None:
    """A retried claim could take more jobs than asked for: one attempt, then the error."""
    calls: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content))
        return _problem(503)

    with pytest.raises(InstanceError):
        await _client(handler).claim_jobs("ptrt-x", ["vod-hls-transcoding"], 2)

    assert 1 == len(calls)
    assert {"runnerToken": "ptrt-x", "jobTypes": ["vod-hls-transcoding"], "maxJobs": 2} == {
        k: calls[0][k] for k in ("runnerToken", "jobTypes", "maxJobs")
    }


async def test_claim_sends_the_max_resolution_only_when_set() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"jobs": []})

    client = _client(handler)
    await client.claim_jobs("ptrt-x", ["vod-hls-transcoding"], 1)
    await client.claim_jobs("ptrt-x", ["vod-hls-transcoding"], 1, max_resolution=720)

    assert ("maxResolution" in bodies[0], bodies[1]["maxResolution"]) == (False, 720)
