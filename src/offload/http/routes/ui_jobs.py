"""Admin UI pages: Runner jobs (filters, search, sort, pagination, cancel, delete) and the
job page (payloads, error, parent, children, attempts), with the fragments they poll."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from offload.domain.errors import JobNotFound, OffloadError
from offload.domain.jobs import JobState, JobType
from offload.domain.runners import is_uuid_v4
from offload.http.deps import ServicesDep
from offload.http.services import Services
from offload.http.ui.paging import Page, parse_start
from offload.http.ui.render import UiRoute, render, render_fragment
from offload.http.ui.session import CheckedForm, Session, safe_next, set_flash
from offload.store.jobs import JobListQuery

__all__ = ["SORTS", "JobFilters", "router"]

router = APIRouter(route_class=UiRoute)

JOBS_PER_PAGE = 20

#: Sort choices offered by the page: (value of the admin API's `sort`, label).
SORTS = [
    ("-createdAt", "Newest first"),
    ("createdAt", "Oldest first"),
    ("-updatedAt", "Recently updated"),
    ("priority", "Priority (most urgent first)"),
    ("-priority", "Priority (least urgent first)"),
    ("state", "State"),
    ("-progress", "Progress"),
]
_SORT_VALUES = {value for value, _ in SORTS}
_STATE_VALUES = {s.value for s in JobState}
_TYPE_VALUES = {str(t) for t in JobType}


@dataclass(frozen=True, slots=True)
class JobFilters:
    """What the filter form asked for; unknown values fall back to "any" rather than erroring."""

    search: str = ""
    state: int | None = None
    type: str = ""
    sort: str = "-createdAt"

    @classmethod
    def from_request(cls, request: Request) -> JobFilters:
        params = request.query_params
        raw_state = params.get("state", "")
        state = int(raw_state) if raw_state.isdigit() and int(raw_state) in _STATE_VALUES else None
        job_type = params.get("type", "")
        sort = params.get("sort", "-createdAt")
        return cls(
            search=params.get("search", "").strip()[:200],
            state=state,
            type=job_type if job_type in _TYPE_VALUES else "",
            sort=sort if sort in _SORT_VALUES else "-createdAt",
        )

    @property
    def active(self) -> bool:
        return bool(self.search or self.state is not None or self.type)

    def params(self) -> dict[str, str]:
        values = {k: "" if v is None else str(v) for k, v in asdict(self).items()}
        if values["sort"] == "-createdAt":
            values["sort"] = ""
        return {k: v for k, v in values.items() if v}

    def query(self, start: int) -> JobListQuery:
        return JobListQuery(
            start=start,
            count=JOBS_PER_PAGE,
            sort=self.sort,
            search=self.search or None,
            search_is_uuid=bool(self.search and is_uuid_v4(self.search)),
            states=[self.state] if self.state is not None else None,
            types=[self.type] if self.type else None,
        )


async def _jobs_context(request: Request, services: Services, csrf: str) -> dict[str, Any]:
    filters = JobFilters.from_request(request)
    start = parse_start(request.query_params.get("start"))
    total, rows = await services.jobs.list_for_admin(filters.query(start))
    params = filters.params()
    query = urlencode({**params, **({"start": str(start)} if start else {})})
    return {
        "filters": filters,
        "filtered": filters.active,
        "rows": rows,
        "page": Page("/admin/jobs", start, JOBS_PER_PAGE, total, params),
        "query": query,
        "back": "/admin/jobs" + (f"?{query}" if query else ""),
        "csrf": csrf,
        "sorts": SORTS,
    }


@router.get("/jobs")
async def jobs_page(request: Request, session: Session, services: ServicesDep) -> HTMLResponse:
    context = await _jobs_context(request, services, session.csrf)
    return await render(request, services, session, "jobs.html", **context)


@router.get("/jobs/table")
async def jobs_table(request: Request, session: Session, services: ServicesDep) -> HTMLResponse:
    context = await _jobs_context(request, services, session.csrf)
    return await render_fragment(request, services, "_jobs_table.html", **context)


async def _job_context(services: Services, job_uuid: str, csrf: str) -> dict[str, Any]:
    view, children, attempts = await services.jobs.details(job_uuid)
    video_uuid = view.job.private_payload.get("videoUUID")
    return {
        # Jobs of uploads link back to their video once the Videos page exists.
        "video_uuid": video_uuid
        if isinstance(video_uuid, str) and services.extras.get("media") is not None
        else None,
        "view": view,
        "job": view.job,
        "children": children,
        "attempts": attempts,
        "csrf": csrf,
        "back": f"/admin/jobs/{job_uuid}",
    }


@router.get("/jobs/{job_uuid}")
async def job_page(
    job_uuid: str, request: Request, session: Session, services: ServicesDep
) -> HTMLResponse:
    try:
        context = await _job_context(services, job_uuid, session.csrf)
    except JobNotFound:
        return await render(
            request,
            services,
            session,
            "message.html",
            status_code=404,
            heading="Job not found",
            message=f"There is no runner job {job_uuid}: it may have been deleted.",
            back="/admin/jobs",
        )
    return await render(request, services, session, "job.html", **context)


@router.get("/jobs/{job_uuid}/status")
async def job_status(
    job_uuid: str, request: Request, session: Session, services: ServicesDep
) -> HTMLResponse:
    try:
        context = await _job_context(services, job_uuid, session.csrf)
    except JobNotFound:
        context = {"job": None}
    return await render_fragment(request, services, "_job_status.html", **context)


@router.post("/jobs/{job_uuid}/cancel")
async def cancel_job(
    job_uuid: str, request: Request, form: CheckedForm, services: ServicesDep
) -> Response:
    response = RedirectResponse(safe_next(str(form.get("back") or "")), status_code=303)
    try:
        cancelled = await services.jobs.cancel(job_uuid)
    except OffloadError as exc:
        set_flash(request, response, exc.message, "error")
    else:
        set_flash(request, response, f"Job {cancelled.uuid[:8]} cancelled.")
    return response


@router.post("/jobs/{job_uuid}/delete")
async def delete_job(
    job_uuid: str, request: Request, form: CheckedForm, services: ServicesDep
) -> Response:
    back = safe_next(str(form.get("back") or ""))
    if back.startswith(f"/admin/jobs/{job_uuid}"):
        back = "/admin/jobs"  # its own page is gone
    response = RedirectResponse(back, status_code=303)
    try:
        await services.jobs.delete(job_uuid)
    except OffloadError as exc:
        set_flash(request, response, exc.message, "error")
    else:
        set_flash(request, response, f"Job {job_uuid[:8]} deleted.")
    return response
