"""Admin UI: the studio form of a video page (cut, intro, outro, watermark), posted with the
session's CSRF token and run through the same `request_edit` as PeerTube's API route.

The form's fields become PeerTube's tasks in PeerTube's own editor order: cut, add-intro,
add-outro, add-watermark; an empty field adds no task.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from offload.domain.errors import OffloadError, VideoNotFound
from offload.domain.videos import parse_video_id
from offload.http.deps import ServicesDep
from offload.http.multipart import parse_multipart
from offload.http.ui.render import UiRoute
from offload.http.ui.session import CsrfRejected, Session, set_flash
from offload.instance.media import media_of
from offload.jobs.studio_completion import request_edit

__all__ = ["router", "tasks_of_form"]

router = APIRouter(route_class=UiRoute)

_FILE_TASKS = (("intro", "add-intro"), ("outro", "add-outro"), ("watermark", "add-watermark"))


def tasks_of_form(
    fields: dict[str, Any], files: dict[str, Path]
) -> tuple[dict[str, Any], dict[str, Path]]:
    """The form's fields as PeerTube's `tasks` field and task file parts."""
    tasks: list[dict[str, Any]] = []
    task_files: dict[str, Path] = {}
    start = str(fields.get("cut_start") or "").strip()
    end = str(fields.get("cut_end") or "").strip()
    if start or end:
        options = {k: v for k, v in (("start", start), ("end", end)) if v}
        tasks.append({"name": "cut", "options": options})
    for field, name in _FILE_TASKS:
        if field in files:
            task_files[f"tasks.{len(tasks)}.options.file"] = files[field]
            tasks.append({"name": name, "options": {}})
    return {"tasks": {str(i): t for i, t in enumerate(tasks)}}, task_files


@router.post("/videos/{video_id}/studio")
async def studio_edit(
    video_id: str, request: Request, session: Session, services: ServicesDep
) -> Response:
    media = media_of(services)
    response = RedirectResponse(f"/admin/videos/{video_id}", status_code=303)
    form = await parse_multipart(request, media.storage.upload_tmp_dir)
    try:
        token = form.fields.get("csrf")
        if not (
            isinstance(token, str) and hmac.compare_digest(token.encode(), session.csrf.encode())
        ):
            raise CsrfRejected()
        # An `<input type=file>` left empty still sends an empty part.
        files = {k: p for k, p in form.files.items() if p.stat().st_size > 0}
        fields, task_files = tasks_of_form(form.fields, files)
        if not fields["tasks"]:
            set_flash(
                request,
                response,
                "Choose at least one edit: a cut, an intro, an outro or a watermark.",
                "error",
            )
            return response
        ident = parse_video_id(video_id)
        if ident is None:
            raise VideoNotFound()
        try:
            job = await request_edit(media.videos, ident, session.user, fields, task_files)
        except OffloadError as exc:
            set_flash(request, response, exc.message, "error")
            return response
    finally:
        form.cleanup()
    set_flash(request, response, f"Studio edit queued as job {job.uuid[:8]}.")
    return response
