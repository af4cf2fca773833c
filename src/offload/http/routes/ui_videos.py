"""Admin UI pages: Videos (upload with a progress bar, list, delete) and the video page (player
for the HLS master playlist and the web-video files, the video's jobs), with polled fragments.

Uploads go through the session (cookie + CSRF token) rather than the bearer-token API, so the
page's script never has to hold an OAuth token; they end in the same `VideoService.create`.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from offload.domain.errors import OffloadError, VideoNotFound
from offload.domain.jobs import JobState, JobType
from offload.domain.videos import Video, VideoFile, VideoId, VideoState, parse_video_id
from offload.http.deps import ServicesDep
from offload.http.multipart import parse_multipart
from offload.http.services import Services
from offload.http.ui.dashboard import connected_runner_ids, count_online_runners
from offload.http.ui.paging import Page, parse_start
from offload.http.ui.render import UiRoute, render, render_fragment
from offload.http.ui.session import CheckedForm, CsrfRejected, Session, set_flash
from offload.http.video_wire import channel_name
from offload.instance.media import media_of
from offload.jobs.storyboard_completion import storyboards_to_wire
from offload.jobs.transcription_completion import TranscriptionPlanner, captions_to_wire
from offload.media.playlists import MASTER_PLAYLIST

__all__ = ["Source", "router", "sources_of"]

router = APIRouter(route_class=UiRoute)

VIDEOS_PER_PAGE = 20

_STATE_CLASS = {
    VideoState.PUBLISHED: "completed",
    VideoState.TO_TRANSCODE: "processing",
    VideoState.TRANSCODING_FAILED: "errored",
    VideoState.TO_EDIT: "processing",
}
_EDITABLE = (VideoState.PUBLISHED, VideoState.TRANSCODING_FAILED)


@dataclass(frozen=True, slots=True)
class Source:
    """Something the player can play: the HLS master playlist or one web-video file."""

    label: str
    url: str
    mime: str
    size: int | None = None


def sources_of(video: Video, files: list[VideoFile]) -> list[Source]:
    """HLS first (adaptive), then web videos from the best quality down; relative URLs keep
    the player on the page's own origin whatever the configured public URL."""
    sources: list[Source] = []
    if any(f.kind == "hls" for f in files):
        sources.append(
            Source(
                "HLS master playlist (adaptive)",
                f"/static/streaming-playlists/hls/{video.uuid}/{MASTER_PLAYLIST}",
                "application/vnd.apple.mpegurl",
            )
        )
    for f in sorted(
        (f for f in files if f.kind == "web"), key=lambda f: (-f.resolution, -f.fps, f.id)
    ):
        quality = "audio only" if f.is_audio_only else f"{f.resolution}p"
        mime = "audio/mp4" if f.is_audio_only else "video/mp4"
        sources.append(
            Source(f"Web video {quality} (MP4)", f"/static/web-videos/{f.filename}", mime, f.size)
        )
    return sources


def _context(
    services: Services, video: Video, files: list[VideoFile], jobs: list[Any], csrf: str
) -> dict[str, Any]:
    return {
        "video": video,
        "video_state_class": _STATE_CLASS.get(video.state, "pending"),
        "files": files,
        "sources": sources_of(video, files),
        "jobs": jobs,
        "csrf": csrf,
        "back": f"/admin/videos/{video.uuid}",
    }


async def _list_context(request: Request, services: Services, csrf: str) -> dict[str, Any]:
    start = parse_start(request.query_params.get("start"))
    total, rows = await media_of(services).videos.list(start, VIDEOS_PER_PAGE, "-createdAt")
    return {
        "rows": [(video, files, _STATE_CLASS.get(video.state, "pending")) for video, files in rows],
        "page": Page("/admin/videos", start, VIDEOS_PER_PAGE, total),
        "channel_name": channel_name,
        "csrf": csrf,
    }


@router.get("/videos")
async def videos_page(request: Request, session: Session, services: ServicesDep) -> HTMLResponse:
    context = await _list_context(request, services, session.csrf)
    return await render(request, services, session, "videos.html", **context)


@router.get("/videos/table")
async def videos_table(request: Request, session: Session, services: ServicesDep) -> HTMLResponse:
    context = await _list_context(request, services, session.csrf)
    return await render_fragment(request, services, "_videos_table.html", **context)


def _upload_failed(request: Request, message: str, status: int) -> Response:
    if request.headers.get("x-requested-with") == "fetch":
        return JSONResponse({"error": message}, status_code=status)
    response = RedirectResponse("/admin/videos", status_code=303)
    set_flash(request, response, message, "error")
    return response


@router.post("/videos/upload")
async def upload_video(request: Request, session: Session, services: ServicesDep) -> Response:
    """A multipart `name` + `videofile` (+ `csrf`), posted by the page's script or by the form."""
    media = media_of(services)
    # The script sends the token as a header, so a forged upload is refused before any byte
    # is spooled; a script-less form has it as a field, checked once the body is parsed.
    header_token = request.headers.get("x-csrf-token")
    if header_token is not None and not hmac.compare_digest(
        header_token.encode(), session.csrf.encode()
    ):
        raise CsrfRejected()
    form = await parse_multipart(request, media.storage.upload_tmp_dir)
    try:
        field_token = form.fields.get("csrf")
        if header_token is None and not (
            isinstance(field_token, str)
            and hmac.compare_digest(field_token.encode(), session.csrf.encode())
        ):
            raise CsrfRejected()
        name = form.fields.get("name")
        if not isinstance(name, str) or not 3 <= len(name.strip()) <= 120:
            return _upload_failed(request, "Give the video a name of 3 to 120 characters.", 400)
        if "videofile" not in form.files:
            return _upload_failed(request, "Choose a video or audio file to upload.", 400)
        try:
            video = await media.videos.create(
                name=name.strip(),
                media=form.files["videofile"],
                original_filename="",
                owner_id=session.user.id,
            )
        except OffloadError as exc:
            return _upload_failed(request, exc.message, 422)
    finally:
        form.cleanup()  # whatever the service did not move into place
    target = f"/admin/videos/{video.uuid}"
    if request.headers.get("x-requested-with") == "fetch":
        return JSONResponse({"uuid": video.uuid, "url": target})
    response = RedirectResponse(target, status_code=303)
    set_flash(request, response, f"“{video.name}” uploaded.")
    return response


async def _details(services: Services, video_id: str) -> Any:
    ident = parse_video_id(video_id)
    if ident is None:
        raise VideoNotFound()
    return await media_of(services).videos.details(ident)


@router.get("/videos/{video_id}")
async def video_page(
    video_id: str, request: Request, session: Session, services: ServicesDep
) -> HTMLResponse:
    try:
        details = await _details(services, video_id)
    except VideoNotFound:
        return await render(
            request,
            services,
            session,
            "message.html",
            status_code=404,
            heading="Video not found",
            message=f"There is no video {video_id}: it may have been deleted.",
            back="/admin/videos",
        )
    context = _context(services, details.video, details.files, details.jobs, session.csrf)
    context.update(await _studio_context(services, details))
    ident = VideoId(id=details.video.id)
    boards = await storyboards_to_wire(media_of(services).videos, ident)
    captions = await captions_to_wire(media_of(services).videos, ident)
    return await render(
        request,
        services,
        session,
        "video.html",
        storyboards=boards["storyboards"],
        captions=captions["data"],
        **context,
    )


async def _studio_context(services: Services, details: Any) -> dict[str, Any]:
    """Whether the studio form is offered, and whether an edit waits for a runner while none
    is online (remote studio on): the page says so rather than leaving the job silent."""
    media = media_of(services)
    config = await media.config.current()
    video = details.video
    waiting = [j for j in details.jobs if j.type is JobType.STUDIO and j.state is JobState.PENDING]
    runner_missing = False
    if waiting and not await media.videos.job_is_local(waiting[0].id):
        async with services.db.read() as conn:
            online = await count_online_runners(
                conn, services.runners.now(), connected_runner_ids(services)
            )
        runner_missing = online == 0
    return {
        "studio_enabled": config.studio,
        "studio_editable": config.studio and video.state in _EDITABLE and video.has_video,
        "studio_waiting_for_runner": runner_missing,
    }


@router.get("/videos/{video_id}/status")
async def video_status(
    video_id: str, request: Request, session: Session, services: ServicesDep
) -> HTMLResponse:
    try:
        details = await _details(services, video_id)
    except VideoNotFound:
        return await render_fragment(request, services, "_video_status.html", video=None)
    context = _context(services, details.video, details.files, details.jobs, session.csrf)
    context.update(await _studio_context(services, details))
    return await render_fragment(request, services, "_video_status.html", **context)


@router.post("/videos/{video_id}/captions/generate")
async def generate_captions(
    video_id: str, request: Request, _: CheckedForm, services: ServicesDep
) -> Response:
    """The "Generate captions" button: a transcription job, as the API's generate."""
    response = RedirectResponse(f"/admin/videos/{video_id}", status_code=303)
    ident = parse_video_id(video_id)
    try:
        if ident is None:
            raise VideoNotFound()
        await TranscriptionPlanner(media_of(services).videos).generate(ident)
    except OffloadError as exc:
        set_flash(request, response, exc.message, "error")
    else:
        set_flash(request, response, "Transcription asked for: captions appear once it is done.")
    return response


@router.post("/videos/{video_id}/delete")
async def delete_video(
    video_id: str, request: Request, _: CheckedForm, services: ServicesDep
) -> Response:
    response = RedirectResponse("/admin/videos", status_code=303)
    ident = parse_video_id(video_id)
    try:
        if ident is None:
            raise VideoNotFound()
        video = await media_of(services).videos.get(ident)
        await media_of(services).videos.delete(ident)
    except OffloadError as exc:
        set_flash(request, response, exc.message, "error")
    else:
        set_flash(request, response, f"“{video.name}” deleted.")
    return response
