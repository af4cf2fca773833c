"""JSON shapes of PeerTube's wire models (RunnerJob, Runner, RegistrationToken)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from offload.domain.jobs import Job, JobState
from offload.domain.runners import RegistrationToken, Runner

__all__ = ["iso", "job_to_wire", "registration_token_to_wire", "runner_to_wire"]


def iso(value: datetime) -> str:
    """JavaScript's `toISOString()`: UTC, milliseconds, `Z`."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def runner_summary(runner: Runner | None) -> dict[str, Any] | None:
    if runner is None:
        return None
    return {"id": runner.id, "name": runner.name, "description": runner.description}


def job_to_wire(
    job: Job, *, runner: Runner | None, parent: Job | None = None, admin: bool = False
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uuid": job.uuid,
        "type": str(job.type),
        "state": job.state.to_wire(),
        "payload": job.payload,
        "failures": job.failures,
        "error": job.error,
        "progress": job.progress,
        "priority": job.priority,
        "createdAt": iso(job.created_at),
        "updatedAt": iso(job.updated_at),
        "runner": runner_summary(runner),
    }
    # PeerTube leaves these keys out when null.
    if job.started_at is not None:
        body["startedAt"] = iso(job.started_at)
    if job.finished_at is not None:
        body["finishedAt"] = iso(job.finished_at)
    if admin:
        if parent is not None:
            body["parent"] = {
                "id": parent.id,
                "uuid": parent.uuid,
                "type": str(parent.type),
                "state": parent.state.to_wire(),
            }
        body["privatePayload"] = job.private_payload
        # Offload's: a PENDING job backing off after a failure is offered from then on.
        if job.state is JobState.PENDING and job.not_before is not None:
            body["nextOfferAt"] = iso(job.not_before)
    return body


def runner_to_wire(runner: Runner) -> dict[str, Any]:
    return {
        "id": runner.id,
        "name": runner.name,
        "description": runner.description,
        "ip": runner.ip,
        "lastContact": iso(runner.last_contact),
        "version": runner.version,
        "createdAt": iso(runner.created_at),
        "updatedAt": iso(runner.updated_at),
    }


def registration_token_to_wire(token: RegistrationToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "registrationToken": token.token,
        "createdAt": iso(token.created_at),
        "updatedAt": iso(token.updated_at),
        "registeredRunnersCount": token.registered_runners_count,
    }
