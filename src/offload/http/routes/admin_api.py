"""Admin endpoints A1–A8: registration tokens, runners, runner jobs (OAuth bearer, admin)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request, Response

from offload.domain.jobs import JobState, JobType
from offload.domain.runners import is_uuid_v4
from offload.http.deps import AdminUser, ServicesDep, enforce_rate_limit
from offload.http.errors import BadParams
from offload.http.routes.runner_api import check_job_uuid
from offload.http.wire import iso, job_to_wire, registration_token_to_wire, runner_to_wire
from offload.store.jobs import JobListQuery

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/runners", tags=["admin"])

_JOB_SORTS = {"createdAt", "updatedAt", "priority", "state", "progress"}

#: ASCII digits only (`str.isdigit` also takes "²", which `int` refuses), and no more than
#: fits an INTEGER column / OFFSET on both databases: larger values are a 400, not a 500.
_UINT_RE = re.compile(r"[0-9]{1,10}")
_MAX_INT = 2**31 - 1


def _uint(raw: str) -> int | None:
    """A non-negative integer parameter, or None when it is not one we can use."""
    raw = raw.strip()
    if not _UINT_RE.fullmatch(raw) or int(raw) > _MAX_INT:
        return None
    return int(raw)


def _int_param(request: Request, name: str, default: int, lo: int, hi: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = _uint(raw)
    if value is None or value < lo or (hi is not None and value > hi):
        raise BadParams(name)
    return value


def _pagination(request: Request, sorts: set[str]) -> tuple[int, int, str]:
    start = _int_param(request, "start", 0, 0, None)
    count = _int_param(request, "count", 15, 0, 100)
    sort = request.query_params.get("sort", "-createdAt")
    if (
        sort.lstrip("-") not in sorts
        or sort.count("-") > 1
        or (sort.startswith("-") is False and "-" in sort)
    ):
        raise BadParams("sort")
    return start, count, sort


def _list_param(request: Request, name: str) -> list[str] | None:
    """Express/qs arrays: `name=1&name=2`, `name[]=1`, `name[0]=1` all give a list."""
    values: list[str] = []
    found = False
    for key, value in request.query_params.multi_items():
        if key == name or key == f"{name}[]" or (key.startswith(f"{name}[") and key.endswith("]")):
            found = True
            values.append(value)
    return values if found else None


@router.get("/registration-tokens")
async def list_registration_tokens(
    request: Request, _: AdminUser, services: ServicesDep
) -> dict[str, Any]:
    await enforce_rate_limit(request, services)
    start, count, sort = _pagination(request, {"createdAt"})
    total, tokens = await services.runners.list_registration_tokens(
        start, count, sort.startswith("-")
    )
    return {"total": total, "data": [registration_token_to_wire(t) for t in tokens]}


@router.post("/registration-tokens/generate", status_code=204)
async def generate_registration_token(
    request: Request, _: AdminUser, services: ServicesDep
) -> Response:
    await enforce_rate_limit(request, services)
    await services.runners.generate_registration_token()
    return Response(status_code=204)


@router.delete("/registration-tokens/{tokenId}", status_code=204)
async def revoke_registration_token(
    tokenId: str, request: Request, _: AdminUser, services: ServicesDep
) -> Response:
    await enforce_rate_limit(request, services)
    token_id = _uint(tokenId)
    if token_id is None:
        raise BadParams("id")
    await services.runners.revoke_registration_token(token_id)
    return Response(status_code=204)


@router.get("")
async def list_runners(request: Request, _: AdminUser, services: ServicesDep) -> dict[str, Any]:
    await enforce_rate_limit(request, services)
    start, count, sort = _pagination(request, {"createdAt"})
    total, runners = await services.runners.list(start, count, sort.startswith("-"))
    return {"total": total, "data": [runner_to_wire(r) for r in runners]}


@router.delete("/{runnerId}", status_code=204)
async def delete_runner(
    runnerId: str, request: Request, _: AdminUser, services: ServicesDep
) -> Response:
    await enforce_rate_limit(request, services)
    runner_id = _uint(runnerId)
    if runner_id is None:
        raise BadParams("runnerId")
    await services.runners.delete(runner_id)
    return Response(status_code=204)


@router.get("/jobs")
async def list_jobs(request: Request, _: AdminUser, services: ServicesDep) -> dict[str, Any]:
    start, count, sort = _pagination(request, _JOB_SORTS)
    search = request.query_params.get("search") or None
    if search is not None and "\x00" in search:
        raise BadParams("search")
    states: list[int] | None = None
    raw_states = _list_param(request, "stateOneOf")
    if raw_states is not None:
        # Exactly "1".."9", as PeerTube's lookup in RUNNER_JOB_STATES: `int` would also take
        # " 3", "+3" or "٣".
        by_text = {str(int(s)): s for s in JobState}
        if any(v not in by_text for v in raw_states):
            raise BadParams("stateOneOf")
        states = [by_text[v] for v in raw_states]
    raw_types = _list_param(request, "typeOneOf")
    if raw_types is not None:
        valid = {str(t) for t in JobType}
        if any(t not in valid for t in raw_types):
            raise BadParams("typeOneOf")
    query = JobListQuery(
        start=start,
        count=count,
        sort=sort,
        search=search,
        search_is_uuid=bool(search and is_uuid_v4(search)),
        states=states,
        types=raw_types,
    )
    total, views = await services.jobs.list_for_admin(query)
    return {
        "total": total,
        "data": [job_to_wire(v.job, runner=v.runner, parent=v.parent, admin=True) for v in views],
    }


@router.get("/jobs/{jobUUID}")
async def show_job(jobUUID: str, _: AdminUser, services: ServicesDep) -> dict[str, Any]:
    """Offload extension: one job with its children and attempt history."""
    check_job_uuid(jobUUID)
    view, children, attempts = await services.jobs.details(jobUUID)
    body = job_to_wire(view.job, runner=view.runner, parent=view.parent, admin=True)
    body["children"] = [
        {"uuid": c.uuid, "type": str(c.type), "state": c.state.to_wire(), "priority": c.priority}
        for c in children
    ]
    body["attempts"] = [
        {
            "attempt": a.attempt,
            "runnerName": a.runner_name,
            "startedAt": iso(a.started_at),
            "endedAt": iso(a.ended_at) if a.ended_at else None,
            "outcome": a.outcome,
            "message": a.message,
        }
        for a in attempts
    ]
    return body


@router.post("/jobs/{jobUUID}/cancel", status_code=204)
async def cancel_job(jobUUID: str, _: AdminUser, services: ServicesDep) -> Response:
    check_job_uuid(jobUUID)
    await services.jobs.cancel(jobUUID)
    return Response(status_code=204)


@router.delete("/jobs/{jobUUID}", status_code=204)
async def delete_job(jobUUID: str, _: AdminUser, services: ServicesDep) -> Response:
    check_job_uuid(jobUUID)
    await services.jobs.delete(jobUUID)
    return Response(status_code=204)
