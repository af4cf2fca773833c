"""Runner-facing endpoints R1–R8 of PeerTube's protocol (`/api/v1/runners/...`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response

from offload.domain.jobs import UPDATABLE_STATES, Job, JobState, JobType
from offload.domain.payloads import SUCCESS_FILE_FIELDS, UPDATE_FILE_FIELDS
from offload.domain.runners import Runner, is_uuid_v4
from offload.http.deps import RATE_LIMITED, ServicesDep, client_ip, enforce_rate_limit
from offload.http.errors import BadParams, HttpProblem
from offload.http.multipart import ParsedForm, UploadLimits, parse_multipart
from offload.http.schemas import (
    AbortBody,
    AcceptBody,
    ClaimJobsBody,
    ErrorBody,
    RegisterBody,
    RequestJobsBody,
    UnregisterBody,
)
from offload.http.services import Services
from offload.http.wire import job_to_wire
from offload.instance.jobs import check_acceptable
from offload.instance.results import PostedPayload
from offload.media.storage import disk_full_as_storage_full
from offload.settings import InstanceSettings

__all__ = ["UPLOAD_OVERHEAD_BYTES", "largest_upload_limits", "router", "upload_limits"]

router = APIRouter(prefix="/api/v1/runners", tags=["runners"])

_MULTIPART_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["runnerToken", "jobToken"],
                    "properties": {
                        "runnerToken": {"type": "string"},
                        "jobToken": {"type": "string"},
                        "progress": {"type": "integer", "minimum": 0, "maximum": 100},
                        "payload[videoFile]": {"type": "string", "format": "binary"},
                    },
                }
            }
        },
    }
}


_TYPES = frozenset(str(t) for t in JobType)


def check_job_uuid(job_uuid: str) -> str:
    if not is_uuid_v4(job_uuid):
        raise BadParams("jobUUID")
    return job_uuid


@router.post("/register", status_code=200, dependencies=RATE_LIMITED)
async def register(body: RegisterBody, request: Request, services: ServicesDep) -> dict[str, Any]:
    runner, runner_token = await services.runners.register(
        registration_token=body.registrationToken,
        name=body.name,
        description=body.description,
        version=body.version,
        ip=client_ip(request),
    )
    return {"id": runner.id, "runnerToken": runner_token}


@router.post("/unregister", status_code=204, dependencies=RATE_LIMITED)
async def unregister(body: UnregisterBody, request: Request, services: ServicesDep) -> Response:
    await services.runners.unregister(body.runnerToken)
    return Response(status_code=204)


@router.post("/jobs/request", status_code=200, dependencies=RATE_LIMITED)
async def request_jobs(
    body: RequestJobsBody, request: Request, services: ServicesDep
) -> dict[str, Any]:
    runner = await services.runners.authenticate(body.runnerToken)
    # Values are not validated (PeerTube); ones that are no job type can match nothing, and
    # keeping them out of the query spares the database odd values (NUL, objects).
    job_types = (
        None
        if body.jobTypes is None
        else [t for t in body.jobTypes if isinstance(t, str) and t in _TYPES]
    )
    jobs = await services.jobs.request(job_types)
    await services.runners.touch(runner, client_ip(request), body.version)
    return {
        "availableJobs": [{"uuid": j.uuid, "type": str(j.type), "payload": j.payload} for j in jobs]
    }


@router.post("/jobs/claim", status_code=200, dependencies=RATE_LIMITED)
async def claim_jobs(
    body: ClaimJobsBody, request: Request, services: ServicesDep
) -> dict[str, Any]:
    """Offload's extension: pick and accept up to `maxJobs` of the best pending jobs at once,
    producing at most `maxResolution` when the runner declares one.

    Each returned job is shaped like `accept`'s answer (with its `jobToken`). An empty list
    means nothing to do. PeerTube has no such route (404), so runners fall back to request +
    accept there.
    """
    if not services.settings.runner_claim_enabled:
        raise HttpProblem(404, "Not found")
    unknown = sorted({t for t in body.jobTypes or [] if t not in _TYPES})
    if unknown:
        raise BadParams(
            "jobTypes", messages={"jobTypes": f"Unknown job types: {', '.join(unknown)}"}
        )
    runner = await services.runners.authenticate(body.runnerToken)
    claimed = await services.jobs.claim(runner, body.jobTypes, body.maxJobs, body.maxResolution)
    await services.runners.touch(runner, client_ip(request), body.version)
    jobs = []
    for job, job_token in claimed:
        wire = job_to_wire(job, runner=runner)
        wire["jobToken"] = job_token
        jobs.append(wire)
    return {"jobs": jobs}


@router.post("/jobs/{jobUUID}/accept", status_code=200, dependencies=RATE_LIMITED)
async def accept(
    jobUUID: str, body: AcceptBody, request: Request, services: ServicesDep
) -> dict[str, Any]:
    check_job_uuid(jobUUID)
    job = await services.jobs.get(jobUUID)
    check_acceptable(job)
    runner = await services.runners.authenticate(body.runnerToken)
    accepted, job_token = await services.jobs.accept(job, runner)
    await services.runners.touch(runner, client_ip(request))
    wire = job_to_wire(accepted, runner=runner)
    wire["jobToken"] = job_token
    return {"job": wire}


@router.post("/jobs/{jobUUID}/abort", status_code=204, dependencies=RATE_LIMITED)
async def abort(jobUUID: str, body: AbortBody, request: Request, services: ServicesDep) -> Response:
    check_job_uuid(jobUUID)
    runner = await services.runners.find(body.runnerToken)
    job = await services.jobs.load_runner_job(jobUUID, runner, body.jobToken, {JobState.PROCESSING})
    await services.jobs.abort(job, body.reason)
    assert runner is not None
    await services.runners.touch(runner, client_ip(request))
    return Response(status_code=204)


@router.post("/jobs/{jobUUID}/error", status_code=204)
async def error(jobUUID: str, body: ErrorBody, request: Request, services: ServicesDep) -> Response:
    check_job_uuid(jobUUID)
    runner = await services.runners.find(body.runnerToken)
    job = await services.jobs.load_runner_job(jobUUID, runner, body.jobToken, {JobState.PROCESSING})
    await services.jobs.error(job, body.message)
    assert runner is not None
    await services.runners.touch(runner, client_ip(request))
    return Response(status_code=204)


#: What an update/success body may carry besides its largest file: text fields, playlists (a
#: day of 4-second HLS segments makes a 1.5 MB playlist), multipart framing.
UPLOAD_OVERHEAD_BYTES = 8 * 1024 * 1024


def upload_limits(settings: InstanceSettings, job_type: JobType) -> UploadLimits:
    """The caps on a runner's update/success body for a job of this type (413 past them)."""
    video = settings.runner_video_upload_max_bytes
    file_bytes = {
        JobType.VOD_WEB_VIDEO: video,
        JobType.VOD_HLS: video,
        JobType.VOD_AUDIO_MERGE: video,
        JobType.STUDIO: video,
        JobType.LIVE_RTMP_HLS: settings.runner_live_chunk_max_bytes,
        JobType.STORYBOARD: settings.runner_image_upload_max_bytes,
        JobType.TRANSCRIPTION: settings.runner_caption_upload_max_bytes,
    }[job_type]
    return UploadLimits(body_bytes=file_bytes + UPLOAD_OVERHEAD_BYTES, file_bytes=file_bytes)


def largest_upload_limits(settings: InstanceSettings) -> UploadLimits:
    """The caps before the job is known: those of the job type that may send the most."""
    return max((upload_limits(settings, t) for t in JobType), key=lambda limits: limits.body_bytes)


@dataclass
class _UploadGate:
    """Authenticates an update/success from its first text fields, before any file is kept:
    the same checks, in the same order, as on a whole body (rate limit, token format,
    progress, payload shape, then the job of the runner), so the answers are the same."""

    request: Request
    services: Services
    job_uuid: str
    allowed_files: frozenset[str]
    allowed_states: frozenset[JobState]
    with_progress: bool
    runner: Runner | None = None
    job: Job | None = None

    async def __call__(self, fields: dict[str, Any], pending_file: str | None) -> UploadLimits:
        await enforce_rate_limit(self.request, self.services, fields.get("runnerToken"))
        runner_token, job_token = _tokens_of(fields, before_file=pending_file is not None)
        if self.with_progress:
            _progress_of(fields.get("progress"))
        _payload_fields_of(fields)
        if pending_file is not None:
            _check_file_field(pending_file, self.allowed_files)
        self.runner = await self.services.runners.find(runner_token)
        self.job = await self.services.jobs.load_runner_job(
            self.job_uuid, self.runner, job_token, self.allowed_states
        )
        return upload_limits(self.services.settings, self.job.type)

    async def parse(self) -> ParsedForm:
        settings = self.services.settings
        with disk_full_as_storage_full():
            return await parse_multipart(
                self.request,
                settings.data_dir / "tmp" / "uploads",
                limits=largest_upload_limits(settings),
                gate=self,
            )


def _tokens_of(fields: dict[str, Any], *, before_file: bool) -> tuple[str, str]:
    bad = [
        name
        for name in ("runnerToken", "jobToken")
        if not isinstance(fields.get(name), str) or not 1 <= len(fields[name]) <= 1000
    ]
    if bad:
        # Missing when the first file comes: the tokens must come before any file.
        messages = (
            {name: "must be sent before any file" for name in bad if name not in fields}
            if before_file
            else None
        )
        raise BadParams(*bad, messages=messages)
    return fields["runnerToken"], fields["jobToken"]


def _payload_fields_of(fields: dict[str, Any]) -> dict[str, Any]:
    payload_fields = fields.get("payload", {})
    if not isinstance(payload_fields, dict):
        raise BadParams("payload")
    return payload_fields


def _check_file_field(dotted: str, allowed_files: frozenset[str]) -> str:
    head, _, name = dotted.partition(".")
    if head != "payload" or name not in allowed_files:
        raise BadParams(
            dotted.replace(".", "[", 1) + ("]" if "." in dotted else ""),
            messages={"file": "Unexpected field"},
        )
    return name


def _posted_payload(form: ParsedForm, allowed_files: frozenset[str]) -> PostedPayload:
    payload_fields = _payload_fields_of(form.fields)
    files = {_check_file_field(dotted, allowed_files): path for dotted, path in form.files.items()}
    return PostedPayload(fields=payload_fields, files=files)


@router.post("/jobs/{jobUUID}/update", status_code=204, openapi_extra=_MULTIPART_DOC)
async def update(jobUUID: str, request: Request, services: ServicesDep) -> Response:
    check_job_uuid(jobUUID)
    # The limiter comes before validation, as in PeerTube (which parses the body first to
    # read the token): the gate runs both before any file is kept.
    gate = _UploadGate(
        request,
        services,
        jobUUID,
        UPDATE_FILE_FIELDS,
        frozenset(UPDATABLE_STATES),
        with_progress=True,
    )
    form = await gate.parse()
    try:
        # Fields and files that came after the first file are checked now.
        progress = _progress_of(form.fields.get("progress"))
        posted = _posted_payload(form, UPDATE_FILE_FIELDS)
        assert gate.job is not None and gate.runner is not None
        await services.jobs.update(gate.job, progress, posted)
        await services.runners.touch(gate.runner, client_ip(request))
    finally:
        form.cleanup()
    return Response(status_code=204)


@router.post("/jobs/{jobUUID}/success", status_code=204, openapi_extra=_MULTIPART_DOC)
async def success(jobUUID: str, request: Request, services: ServicesDep) -> Response:
    check_job_uuid(jobUUID)
    gate = _UploadGate(
        request,
        services,
        jobUUID,
        SUCCESS_FILE_FIELDS,
        frozenset({JobState.PROCESSING}),
        with_progress=False,
    )
    form = await gate.parse()
    try:
        posted = _posted_payload(form, SUCCESS_FILE_FIELDS)
        assert gate.job is not None and gate.runner is not None
        await services.jobs.success(gate.job, posted)
        await services.runners.touch(gate.runner, client_ip(request))
    finally:
        form.cleanup()  # the completion took its files into its own staging dir
    return Response(status_code=204)


def _progress_of(raw: object) -> int | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.strip().lstrip("-").isdigit():
        raise BadParams("progress")
    value = int(raw.strip())
    if not 0 <= value <= 100:
        raise BadParams("progress")
    return value
