"""HTTP client for the runner side of PeerTube's protocol (protocol.md §2.1), one per instance.

Every call has a timeout. Calls that are safe to repeat (request, update, abort, error,
success, downloads) are retried with exponential backoff on connection errors, timeouts, 429
and 5xx; register and accept are not (a lost answer may hide a registration or an accepted job,
and repeating would make a second one or fail confusingly).

Problem-JSON answers become `InstanceError` subclasses: `unknown_runner_token` →
`UnknownRunnerTokenError`, an accept race → `JobNotPendingError`, a job-bound call on a job that
is no longer ours (404, or 400 `runner_job_not_in_processing_state`) → `JobGoneError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import mimetypes
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Self

import httpx

from offload import __version__
from offload.runner.custom_upload import CustomUpload
from offload.runner.errors import (
    InstanceError,
    InstanceUnreachable,
    JobGoneError,
    JobNotPendingError,
    RedirectError,
    TransferError,
    UnknownRunnerTokenError,
)
from offload.runner.redirects import REDIRECT_STATUSES, Hop, next_hop

__all__ = ["API_TIMEOUT", "InstanceClient", "RetryPolicy", "runner_version"]

log = logging.getLogger(__name__)

API_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
#: Per read/write operation, not total: a large file may take hours, a stalled socket may not.
TRANSFER_TIMEOUT = httpx.Timeout(120.0, connect=10.0)
_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
_NOT_PROCESSING = "runner_job_not_in_processing_state"
_NOT_PENDING = "runner_job_not_in_pending_state"
_UNKNOWN_RUNNER_TOKEN = "unknown_runner_token"
_UNKNOWN_TOKEN_DETAIL = "unknown runner token"
_CONTENT_RANGE_RE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def runner_version() -> str:
    """The version sent on register and request (PeerTube wants `X.Y.Z`)."""
    return __version__.split("+")[0]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a repeatable call."""

    attempts: int = 6
    first_delay_s: float = 0.5
    max_delay_s: float = 15.0

    def delay_s(self, attempt: int) -> float:
        base = min(self.max_delay_s, self.first_delay_s * 2.0 ** (attempt - 1))
        return base * random.uniform(0.8, 1.2)  # jitter: runners that failed together spread out


class InstanceClient:
    """The protocol calls against one instance URL."""

    def __init__(
        self,
        url: str,
        *,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.url = url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        # API calls follow no redirect: a 301/302 would turn the POST into a GET without its
        # body (PeerTube #5847); the error names the new location instead. Downloads follow
        # them by hand (runner.redirects).
        self._http = httpx.AsyncClient(
            base_url=f"{self.url}/api/v1/runners",
            timeout=API_TIMEOUT,
            transport=transport,
            follow_redirects=False,
        )
        #: For other origins (redirected downloads, custom uploads): no cookies of the instance.
        self._elsewhere = httpx.AsyncClient(
            timeout=TRANSFER_TIMEOUT, transport=transport, follow_redirects=False
        )

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._elsewhere.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- runner management ----------------------------------------------------------------

    async def register(
        self, registration_token: str, name: str, description: str | None = None
    ) -> dict[str, Any]:
        """POST /register → `{id, runnerToken}`."""
        body: dict[str, Any] = {
            "registrationToken": registration_token,
            "name": name,
            "version": runner_version(),
        }
        if description:
            body["description"] = description
        response = await self._post("/register", json=body, expect=200, repeatable=False)
        return dict(response.json())

    async def unregister(self, runner_token: str) -> None:
        await self._post(
            "/unregister", json={"runnerToken": runner_token}, expect=204, repeatable=True
        )

    # ---- jobs -----------------------------------------------------------------------------

    async def request_jobs(
        self, runner_token: str, job_types: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """POST /jobs/request → the available jobs (at most 10, best first)."""
        body: dict[str, Any] = {"runnerToken": runner_token, "version": runner_version()}
        if job_types is not None:
            body["jobTypes"] = job_types
        response = await self._post("/jobs/request", json=body, expect=200, repeatable=True)
        return list(response.json().get("availableJobs", []))

    async def claim_jobs(
        self,
        runner_token: str,
        job_types: list[str],
        max_jobs: int,
        max_resolution: int | None = None,
    ) -> list[dict[str, Any]] | None:
        """POST /jobs/claim (Offload instances): up to `max_jobs` jobs accepted in one call, each
        with its `jobToken`. None when the instance has no such route (PeerTube)."""
        body: dict[str, Any] = {
            "runnerToken": runner_token,
            "jobTypes": job_types,
            "maxJobs": max_jobs,
            "version": runner_version(),
        }
        if max_resolution is not None:
            body["maxResolution"] = max_resolution
        try:
            # Not repeatable: a retry after a lost answer would claim more jobs.
            response = await self._post("/jobs/claim", json=body, expect=200, repeatable=False)
        except UnknownRunnerTokenError:
            raise
        except InstanceError as exc:
            if exc.status in (404, 405):
                return None
            raise
        return [dict(job) for job in response.json().get("jobs", [])]

    async def accept(self, runner_token: str, job_uuid: str) -> dict[str, Any]:
        """POST /jobs/{uuid}/accept → the job, with its `jobToken`."""
        response = await self._post(
            f"/jobs/{job_uuid}/accept",
            json={"runnerToken": runner_token},
            expect=200,
            repeatable=False,
        )
        return dict(response.json()["job"])

    async def update(
        self, runner_token: str, job_uuid: str, job_token: str, progress: int | None = None
    ) -> None:
        """POST /jobs/{uuid}/update (multipart, as the official client sends it): the heartbeat."""
        fields = {"runnerToken": runner_token, "jobToken": job_token}
        if progress is not None:
            fields["progress"] = str(max(0, min(100, int(progress))))
        await self._post(
            f"/jobs/{job_uuid}/update",
            multipart=lambda: _form(fields, {}),
            expect=204,
            repeatable=True,
            job_bound=True,
        )

    async def abort(self, runner_token: str, job_uuid: str, job_token: str, reason: str) -> None:
        """POST /jobs/{uuid}/abort: give the job back (it goes to PENDING, failures unchanged)."""
        body = {"runnerToken": runner_token, "jobToken": job_token, "reason": _clip(reason)}
        # A retry after the first attempt landed finds the token cleared (404): that is done.
        await self._post(
            f"/jobs/{job_uuid}/abort",
            json=body,
            expect=204,
            repeatable=True,
            job_bound=True,
            done_on_retry={404},
        )

    async def error(self, runner_token: str, job_uuid: str, job_token: str, message: str) -> None:
        """POST /jobs/{uuid}/error: the attempt failed (counts toward the 5 failures)."""
        body = {"runnerToken": runner_token, "jobToken": job_token, "message": _clip(message)}
        await self._post(
            f"/jobs/{job_uuid}/error",
            json=body,
            expect=204,
            repeatable=True,
            job_bound=True,
            done_on_retry={404, 400},
        )

    async def success(
        self,
        runner_token: str,
        job_uuid: str,
        job_token: str,
        files: Mapping[str, Path],
        fields: Mapping[str, str] | None = None,
        *,
        custom_uploads: Mapping[str, CustomUpload] | None = None,
    ) -> None:
        """POST /jobs/{uuid}/success with the output files, streamed from disk as multipart.

        Files with a custom upload (runner.custom_upload) go to their URL first and are left
        out of the success call, as PeerTube's runner does.

        A retry whose earlier attempt was recorded after all (the answer was lost) gets "not in
        processing state" (400/409): the job is done, so that counts as success.
        """
        elsewhere = custom_uploads or {}
        for name, path in files.items():
            if name in elsewhere:
                await self._custom_upload(name, path, elsewhere[name])
        attached = {f"payload[{k}]": p for k, p in files.items() if k not in elsewhere}
        form = {"runnerToken": runner_token, "jobToken": job_token}
        form.update({f"payload[{k}]": v for k, v in (fields or {}).items()})
        await self._post(
            f"/jobs/{job_uuid}/success",
            multipart=lambda: _form(form, attached),
            expect=204,
            repeatable=True,
            job_bound=True,
            done_on_retry={400, 409},
            timeout=TRANSFER_TIMEOUT,
        )

    # ---- downloads ------------------------------------------------------------------------

    async def download(
        self,
        url: str,
        runner_token: str,
        job_token: str,
        destination: Path,
        *,
        reuse: Callable[[httpx.Headers], bool] | None = None,
        on_bytes: Callable[[int], None] | None = None,
    ) -> httpx.Headers | None:
        """POST `{runnerToken, jobToken}` to an input file URL, follow its redirects
        (runner.redirects) and stream the body to `destination`, checking its length; resumes
        with `Range` after a cut, following the redirects again from `url` (a presigned
        target may have expired meanwhile; the instance hands out a fresh one).

        `reuse(headers)` may look at the first answer's headers and return True to skip the body
        (a cached copy is current): then nothing is written and None is returned. Otherwise the
        headers of the answer are returned.
        """
        part = destination.with_name(destination.name + ".part")
        part.unlink(missing_ok=True)
        body = {"runnerToken": runner_token, "jobToken": job_token}
        first_headers: httpx.Headers | None = None
        last_error: Exception | None = None
        for attempt in range(1, self.retry.attempts + 1):
            have = part.stat().st_size if part.exists() else 0
            headers = {"Range": f"bytes={have}-"} if have else {}
            try:
                async with self._follow(url, body, headers) as response:
                    if response.status_code in _RETRYABLE_STATUSES:
                        raise _Retryable(f"HTTP {response.status_code}")
                    if response.status_code not in (200, 206):
                        await response.aread()
                        # Not "job gone": a missing file is a failure to report. If the job
                        # really is gone, reporting it says so and the heartbeat notices too.
                        refused = _error_of(response, job_bound=False)
                        raise InstanceError(
                            refused.status,
                            f"download of {url} refused: {refused.detail}",
                            refused.code,
                        )
                    if first_headers is None:
                        first_headers = response.headers
                        if reuse is not None and reuse(response.headers):
                            return None
                    expected = await self._write_body(response, part, have, on_bytes)
                size = part.stat().st_size
                if expected is not None and size != expected:
                    raise TransferError(f"download of {url} ended at {size} of {expected} bytes")
                part.replace(destination)
                return first_headers
            except RedirectError:
                part.unlink(missing_ok=True)
                raise  # the same answer again: not worth a retry
            except (httpx.TransportError, _Retryable, TransferError) as exc:
                last_error = exc
                if attempt == self.retry.attempts:
                    break
                log.warning("download of %s failed (%s), retrying", url, exc)
                await self._sleep(self.retry.delay_s(attempt))
            except BaseException:
                part.unlink(missing_ok=True)
                raise
        part.unlink(missing_ok=True)
        raise TransferError(
            f"download of {url} failed after {self.retry.attempts} attempts: {last_error}"
        )

    @contextlib.asynccontextmanager
    async def _follow(
        self, url: str, tokens: Mapping[str, str], headers: Mapping[str, str]
    ) -> AsyncIterator[httpx.Response]:
        """The streamed answer to a download once its redirects are followed."""
        hop = Hop(httpx.URL(url))
        for hops in itertools.count():
            client = self._http if hop.with_tokens else self._elsewhere
            request = client.build_request(
                hop.method,
                hop.url,
                json=tokens if hop.with_tokens else None,
                headers=headers,
                timeout=TRANSFER_TIMEOUT,
            )
            response = await client.send(request, stream=True)
            if response.status_code not in REDIRECT_STATUSES:
                break
            await response.aclose()
            hop = next_hop(hop, response.status_code, response.headers.get("location"), hops)
            log.debug(
                "download of %s redirected (HTTP %s) to %s",
                url,
                response.status_code,
                hop.url.copy_with(query=None),
            )
        try:
            yield response
        finally:
            await response.aclose()

    async def _write_body(
        self,
        response: httpx.Response,
        part: Path,
        have: int,
        on_bytes: Callable[[int], None] | None,
    ) -> int | None:
        """Append (206 for our Range) or rewrite (200) `part`; returns the expected final size."""
        expected: int | None = None
        if response.status_code == 206 and have:
            match = _CONTENT_RANGE_RE.match(response.headers.get("content-range", ""))
            if not match or int(match.group(1)) != have:
                raise TransferError("the server answered a different range than asked")
            expected = None if match.group(3) == "*" else int(match.group(3))
            mode = "ab"
        else:
            length = response.headers.get("content-length")
            expected = int(length) if length and length.isdigit() else None
            mode = "wb"  # the server ignored Range (or this is the first try): start over
        with part.open(mode) as handle:
            # As received, not re-chunked: a chunker's buffer would be lost in a cut, and the
            # resume would ask again for bytes that had arrived.
            async for chunk in response.aiter_bytes():
                handle.write(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))
        return expected

    async def _custom_upload(self, name: str, path: Path, upload: CustomUpload) -> None:
        """Send one output file to its custom-upload URL: a multipart form whose only part is
        `file`, streamed from disk with its length, and no runner credentials.

        PeerTube's runner expects 204; any 2xx is taken (object storage answers 200 to a PUT).
        A PUT may be repeated, so it is retried like the other repeatable calls; a POST is sent
        once. Redirects are not followed: the body is a stream sent once per attempt.
        """
        shown = str(
            httpx.URL(upload.url).copy_with(query=None, fragment=None)
        )  # no signature in errors
        attempts = self.retry.attempts if upload.method == "PUT" else 1
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        failure = ""
        for attempt in range(1, attempts + 1):
            with path.open("rb") as handle:
                try:
                    response = await self._elsewhere.request(
                        upload.method,
                        upload.url,
                        files={"file": (path.name, handle, content_type)},
                        timeout=TRANSFER_TIMEOUT,
                    )
                except httpx.TransportError as exc:
                    failure = f"{type(exc).__name__}: {exc}"
                else:
                    if response.is_success:
                        return
                    failure = f"HTTP {response.status_code}"
                    if response.status_code not in _RETRYABLE_STATUSES:
                        break
            if attempt < attempts:
                log.warning("custom upload of %s to %s failed (%s), retrying", name, shown, failure)
                await self._sleep(self.retry.delay_s(attempt))
        raise TransferError(f"custom upload of {name} ({upload.method} {shown}) failed: {failure}")

    # ---- plumbing -------------------------------------------------------------------------

    async def _post(
        self,
        path: str,
        *,
        expect: int,
        repeatable: bool,
        json: Any = None,
        multipart: Callable[[], tuple[dict[str, Any], list[IO[bytes]]]] | None = None,
        job_bound: bool = False,
        done_on_retry: set[int] | frozenset[int] = frozenset(),
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        attempts = self.retry.attempts if repeatable else 1
        for attempt in range(1, attempts + 1):
            handles: list[IO[bytes]] = []
            try:
                if multipart is not None:
                    files, handles = multipart()
                    response = await self._http.post(
                        path, files=files, timeout=timeout or API_TIMEOUT
                    )
                else:
                    response = await self._http.post(
                        path, json=json, timeout=timeout or API_TIMEOUT
                    )
            except httpx.TransportError as exc:
                if attempt == attempts:
                    raise InstanceUnreachable(f"{self.url}: {type(exc).__name__}: {exc}") from exc
                log.warning("%s%s: %s, retrying", self.url, path, type(exc).__name__)
                await self._sleep(self.retry.delay_s(attempt))
                continue
            finally:
                for handle in handles:
                    handle.close()
            if response.status_code == expect:
                return response
            if response.status_code in _RETRYABLE_STATUSES and attempt < attempts:
                log.warning("%s%s: HTTP %s, retrying", self.url, path, response.status_code)
                await self._sleep(_retry_after(response) or self.retry.delay_s(attempt))
                continue
            if attempt > 1 and response.status_code in done_on_retry:
                # An earlier attempt got through; its answer was lost on the way back.
                log.info(
                    "%s%s: HTTP %s on retry, the earlier attempt was recorded",
                    self.url,
                    path,
                    response.status_code,
                )
                return response
            raise _error_of(response, job_bound=job_bound)
        raise AssertionError("unreachable")


class _Retryable(Exception):
    pass


def _form(
    fields: Mapping[str, str], files: Mapping[str, Path]
) -> tuple[dict[str, Any], list[IO[bytes]]]:
    """httpx multipart parts: `(None, value)` is a plain field; files are open handles, read in
    chunks while sending, so memory stays flat whatever the size."""
    parts: dict[str, Any] = {name: (None, value) for name, value in fields.items()}
    handles: list[IO[bytes]] = []
    try:
        for name, path in files.items():
            handle = path.open("rb")
            handles.append(handle)
            parts[name] = (path.name, handle, "application/octet-stream")
    except BaseException:
        for opened in handles:
            opened.close()
        raise
    return parts, handles


def _error_of(response: httpx.Response, *, job_bound: bool) -> InstanceError:
    code: str | None = None
    detail: str | None = None
    with contextlib.suppress(ValueError):
        body = response.json()
        if isinstance(body, dict):
            code = body.get("code") if isinstance(body.get("code"), str) else None
            # `message`: django-peertube-runner-connector's key on register/unregister.
            detail = str(body.get("detail") or body.get("error") or body.get("message") or "")
            detail = detail or None
    if detail is None:
        detail = response.reason_phrase
    status = response.status_code
    if status in (301, 302, 303, 307, 308):
        detail = f"redirected to {response.headers.get('location')}: use that URL"
    if code == _UNKNOWN_RUNNER_TOKEN or _is_codeless_unknown_token(status, code, detail, job_bound):
        return UnknownRunnerTokenError(status, detail, code)
    if code == _NOT_PENDING or (status == 409 and not job_bound):
        return JobNotPendingError(status, detail, code)
    if job_bound and (status == 404 or code == _NOT_PROCESSING or status == 409):
        return JobGoneError(status, detail, code)
    return InstanceError(status, detail, code)


def _is_codeless_unknown_token(status: int, code: str | None, detail: str, job_bound: bool) -> bool:
    """PeerTube's 404 "Unknown runner token" without its machine code, as
    django-peertube-runner-connector sends it. Only off a job's calls, where the 404 would
    otherwise read as "the job is gone" (and a job's 404 is handled as that already)."""
    return (
        status == 404
        and code is None
        and not job_bound
        and detail.strip().lower() == _UNKNOWN_TOKEN_DETAIL
    )


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after", "")
    return min(30.0, float(raw)) if raw.isdigit() else None


def _clip(text: str) -> str:
    # The protocol takes 1..5000 characters; keep the end, where ffmpeg puts the cause.
    text = text.strip() or "Unknown error"
    return text if len(text) <= 5000 else "…" + text[-4999:]
