"""Jinja2 rendering for the admin UI, its template filters, and the route class that turns
session and CSRF failures into pages (redirect to login, 401 for fragments, 403)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute

from offload import __version__
from offload.domain.jobs import CANCELLABLE_STATES, JobState, JobType
from offload.http.services import Services
from offload.http.ui.dashboard import load_dashboard
from offload.http.ui.humanize import ago
from offload.http.ui.session import (
    AdminSession,
    CsrfRejected,
    LoginRequired,
    clear_flash,
    read_flash,
)

__all__ = ["STATIC_DIR", "UiRoute", "environment", "render", "render_fragment", "state_class"]

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

# Strict by default: pages never sit in caches, never render in frames, and run only our
# own script and stylesheet (no inline code, so an injected string cannot execute).
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}

_STATE_CLASS = {
    JobState.PENDING: "pending",
    JobState.PROCESSING: "processing",
    JobState.COMPLETING: "processing",
    JobState.COMPLETED: "completed",
    JobState.ERRORED: "errored",
    JobState.PARENT_ERRORED: "errored",
    JobState.WAITING_FOR_PARENT_JOB: "waiting",
    JobState.CANCELLED: "cancelled",
    JobState.PARENT_CANCELLED: "cancelled",
}


def state_class(state: JobState) -> str:
    return _STATE_CLASS[state]


def when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_attr(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value else ""


def file_size(value: int) -> str:
    """1023 B, 12.3 KiB, 4.5 MiB, 1.2 GiB."""
    size = float(value)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def pretty_json(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=when,
        iso=iso_attr,
        pretty_json=pretty_json,
        state_class=state_class,
        urlquote=quote,
        file_size=file_size,
    )
    env.globals.update(
        version=__version__,
        JobState=JobState,
        job_types=[str(t) for t in JobType],
        cancellable_states=CANCELLABLE_STATES,
    )
    return env


async def render(
    request: Request,
    services: Services,
    session: AdminSession | None,
    template: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A full page: layout, navigation, dashboard line and one-shot flash note."""
    now = services.runners.now()
    flash = read_flash(request)
    values = {
        "request": request,
        "session": session,
        "now": now,
        "ago": lambda value: ago(value, now),
        "dashboard": await load_dashboard(services) if session else None,
        "flash": flash,
        "public_url": services.settings.public_url,
        "nav": _nav(services),
        **context,
    }
    response = HTMLResponse(
        environment().get_template(template).render(values), status_code=status_code
    )
    if flash:
        clear_flash(response)
    return response


async def render_fragment(
    request: Request, services: Services, template: str, **context: Any
) -> HTMLResponse:
    """A piece of a page that the page's script polls and swaps in place."""
    now = services.runners.now()
    values = {"request": request, "now": now, "ago": lambda value: ago(value, now), **context}
    return HTMLResponse(environment().get_template(template).render(values))


def _nav(services: Services) -> list[tuple[str, str]]:
    """Pages in the menu; Videos and Settings need the media pipeline."""
    items = [
        ("/admin/runners", "Remote runners"),
        ("/admin/tokens", "Registration tokens"),
        ("/admin/jobs", "Runner jobs"),
    ]
    if services.extras.get("media") is not None:
        items += [("/admin/videos", "Videos"), ("/admin/settings", "Settings")]
    return items


class UiRoute(APIRoute):
    """Admin UI route: session failures become a login redirect (401 for polled fragments),
    CSRF failures a 403 page, and every answer carries the security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginRequired:
                if request.headers.get("x-requested-with") == "fetch":
                    response = Response("login required", status_code=401, media_type="text/plain")
                else:
                    target = request.url.path + (
                        f"?{request.url.query}" if request.url.query else ""
                    )
                    response = RedirectResponse(
                        f"/admin/login?next={quote(target, safe='')}", status_code=303
                    )
            except CsrfRejected:
                body = environment().get_template("forbidden.html").render(request=request)
                response = HTMLResponse(body, status_code=403)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return guarded
