"""Admin UI pages: Remote runners (list, unregister) and Runner registration tokens (list,
generate, revoke, the register command)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from offload.domain.errors import OffloadError
from offload.domain.runners import Runner
from offload.http.deps import ServicesDep
from offload.http.services import Services
from offload.http.ui.dashboard import connected_runner_ids, is_online
from offload.http.ui.paging import Page, parse_start
from offload.http.ui.render import UiRoute, render, render_fragment
from offload.http.ui.session import CheckedForm, Session, set_flash

__all__ = ["router"]

router = APIRouter(route_class=UiRoute)

RUNNERS_PER_PAGE = 50
TOKENS_PER_PAGE = 50


@dataclass(frozen=True, slots=True)
class RunnerRow:
    runner: Runner
    online: bool
    in_progress: int


async def _runner_rows(services: Services, start: int) -> tuple[list[RunnerRow], Page]:
    total, runners = await services.runners.list(start, RUNNERS_PER_PAGE, True)
    busy = await services.runners.processing_counts()
    now = services.runners.now()
    connected = connected_runner_ids(services)
    rows = [RunnerRow(r, is_online(r, now, connected), busy.get(r.id, 0)) for r in runners]
    return rows, Page("/admin/runners", start, RUNNERS_PER_PAGE, total)


@router.get("/runners")
async def runners_page(request: Request, session: Session, services: ServicesDep) -> HTMLResponse:
    rows, page = await _runner_rows(services, parse_start(request.query_params.get("start")))
    return await render(
        request, services, session, "runners.html", rows=rows, page=page, csrf=session.csrf
    )


@router.get("/runners/table")
async def runners_table(request: Request, session: Session, services: ServicesDep) -> HTMLResponse:
    rows, page = await _runner_rows(services, parse_start(request.query_params.get("start")))
    return await render_fragment(
        request, services, "_runners_table.html", rows=rows, page=page, csrf=session.csrf
    )


@router.post("/runners/{runner_id}/delete")
async def delete_runner(
    runner_id: int, request: Request, _: CheckedForm, services: ServicesDep
) -> Response:
    response = RedirectResponse("/admin/runners", status_code=303)
    try:
        await services.runners.delete(runner_id)
    except OffloadError as exc:
        set_flash(request, response, exc.message, "error")
    else:
        set_flash(request, response, "Runner unregistered.")
    return response


@router.get("/tokens")
async def tokens_page(request: Request, session: Session, services: ServicesDep) -> HTMLResponse:
    start = parse_start(request.query_params.get("start"))
    total, tokens = await services.runners.list_registration_tokens(start, TOKENS_PER_PAGE, True)
    context: dict[str, Any] = {
        "tokens": tokens,
        "page": Page("/admin/tokens", start, TOKENS_PER_PAGE, total),
    }
    return await render(request, services, session, "tokens.html", **context)


@router.post("/tokens/generate")
async def generate_token(request: Request, _: CheckedForm, services: ServicesDep) -> Response:
    token = await services.runners.generate_registration_token()
    response = RedirectResponse("/admin/tokens", status_code=303)
    set_flash(request, response, f"Registration token #{token.id} generated.")
    return response


@router.post("/tokens/{token_id}/revoke")
async def revoke_token(
    token_id: int, request: Request, _: CheckedForm, services: ServicesDep
) -> Response:
    response = RedirectResponse("/admin/tokens", status_code=303)
    try:
        await services.runners.revoke_registration_token(token_id)
    except OffloadError as exc:
        set_flash(request, response, exc.message, "error")
    else:
        set_flash(
            request,
            response,
            f"Registration token #{token_id} revoked; its runners are unregistered.",
        )
    return response
