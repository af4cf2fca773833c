"""Runner-facing endpoints R1–R8 of PeerTube's protocol (`/api/v1/runners/...`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from offload.domain.jobs import UPDATABLE_STATES, JobState, JobType
from offload.domain.payloads import SUCCESS_FILE_FIELDS, UPDATE_FILE_FIELDS
from offload.domain.runners import is_uuid_v4
from offload.http.deps import RATE_LIMITED, ServicesDep, client_ip, enforce_rate_limit
from offload.http.errors import BadParams, HttpProblem
from offload.http.multipart import ParsedForm, parse_multipart
from offload.http.schemas import (
    AbortBody,
    AcceptBody,
    ClaimJobsBody,
    ErrorBody,
    RegisterBody,
    RequestJobsBody,
    UnregisterBody,
)
from offload.http.wire import job_to_wire
from offload.instance.jobs import check_acceptable
from offload.instance.results import PostedPayload

__all__ = ["router"]

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
async def request_jobs(body: RequestJobsBody, request: Request, services: ServicesDep) -> dict[str, Any]:
    runner = await services.runners.authenticate(body.runnerToken)
    # Values are not validated (PeerTube); ones that are no job type can match nothing, and
    # keeping them out of the query spares the database odd values (NUL, objects).
    job_types = None if body.jobTypes is None else [t for t in body.jobTypes if isinstance(t, str) and t in _TYPES]
    jobs = await services.jobs.request(job_types)
    await services.runners.touch(runner, client_ip(request), body.version)
    return {"availableJobs": [{"uuid": j.uuid, "type": str(j.type), "payload": j.payload} for j in jobs]}


@router.post("/jobs/claim", status_code=200, dependencies=RATE_LIMITED)
async def claim_jobs(body: ClaimJobsBody, request: Request, services: ServicesDep) -> dict[str, Any]:
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
        raise BadParams("jobTypes", messages={"jobTypes": f"Unknown job types: {', '.join(unknown)}"})
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
async def accept(jobUUID: str, body: AcceptBody, request: Request, services: ServicesDep) -> dict[str, Any]:
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


def _tokens_of(form: ParsedForm) -> tuple[str, str]:
    bad = [
        name
        for name in ("runnerToken", "jobToken")
        if not isinstance(form.fields.get(name), str) or not 1 <= len(form.fields[name]) <= 1000
    ]
    if bad:
        raise BadParams(*bad)
    return form.fields["runnerToken"], form.fields["jobToken"]


def _posted_payload(form: ParsedForm, allowed_files: frozenset[str]) -> PostedPayload:
    payload_fields = form.fields.get("payload", {})
    if not isinstance(payload_fields, dict):
        raise BadParams("payload")
    files: dict[str, object] = {}
    for dotted, path in form.files.items():
        head, _, name = dotted.partition(".")
        if head != "payload" or name not in allowed_files:
            raise BadParams(dotted.replace(".", "[", 1) + ("]" if "." in dotted else ""), messages={"file": "Unexpected field"})
        files[name] = path
    return PostedPayload(fields=payload_fields, files=files)  # type: ignore[arg-type]


@router.post("/jobs/{jobUUID}/update", status_code=204, openapi_extra=_MULTIPART_DOC)
async def update(jobUUID: str, request: Request, services: ServicesDep) -> Response:
    check_job_uuid(jobUUID)
    form = await parse_multipart(request, services.settings.data_dir / "tmp" / "uploads")
    try:
        # The limiter comes before validation, as in PeerTube (body parsed first to read the token).
        await enforce_rate_limit(request, services, form.fields.get("runnerToken"))
        runner_token, job_token = _tokens_of(form)
        progress = _progress_of(form.fields.get("progress"))
        posted = _posted_payload(form, UPDATE_FILE_FIELDS)
        runner = await services.runners.find(runner_token)
        job = await services.jobs.load_runner_job(jobUUID, runner, job_token, UPDATABLE_STATES)
        await services.jobs.update(job, progress, posted)
        assert runner is not None
        await services.runners.touch(runner, client_ip(request))
    finally:
        form.cleanup()
    return Response(status_code=204)


@router.post("/jobs/{jobUUID}/success", status_code=204, openapi_extra=_MULTIPART_DOC)
async def success(jobUUID: str, request: Request, services: ServicesDep) -> Response:
    check_job_uuid(jobUUID)
    form = await parse_multipart(request, services.settings.data_dir / "tmp" / "uploads")
    try:
        await enforce_rate_limit(request, services, form.fields.get("runnerToken"))
        runner_token, job_token = _tokens_of(form)
        posted = _posted_payload(form, SUCCESS_FILE_FIELDS)
        runner = await services.runners.find(runner_token)
        job = await services.jobs.load_runner_job(jobUUID, runner, job_token, {JobState.PROCESSING})
        await services.jobs.success(job, posted)
        assert runner is not None
        await services.runners.touch(runner, client_ip(request))
    finally:
        form.cleanup()  # files the completion moved away are already gone
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
