"""Videos: PeerTube's upload (multipart and resumable), list, details, delete.

Uploads and deletion need an admin bearer token; reading is public, as on PeerTube. Every upload
is probed before anything is created: a file that is not audio or video gets a 422 problem and
leaves nothing behind. Uploads are held to the size cap and the user's quota (413
`max_file_size_reached` / `quota_reached`) before their bytes are read when their size is
announced, and as they stream when it is not; a full disk is a 507.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.requests import ClientDisconnect
from starlette.types import Message

from offload.domain.errors import ChunkTooLarge, FileTooLarge, Forbidden, PayloadTooLarge
from offload.domain.uploads import UploadAllowance
from offload.domain.videos import Video, parse_video_id
from offload.http.deps import AdminUser, ServicesDep
from offload.http.errors import BadParams, HttpProblem
from offload.http.multipart import parse_multipart
from offload.http.video_wire import CATEGORIES, LANGUAGES, LICENCES, PRIVACIES, video_to_wire
from offload.instance.accounts import User
from offload.instance.media import MediaPipeline, media_of
from offload.instance.videos import UnreadableMedia, VideoDetails
from offload.jobs.storyboard_completion import storyboards_to_wire
from offload.jobs.transcription_completion import TranscriptionPlanner, captions_to_wire
from offload.media.storage import disk_full_as_storage_full

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/videos", tags=["videos"])

_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
_STATUS_RE = re.compile(r"^bytes \*/(\d+)$")
_SORTS = {"createdAt", "name", "duration"}
#: Room in a multipart upload's body for its parts besides the file (the name, a preview
#: picture): a body longer than the file allowance plus this is refused unread, or cut off.
FORM_EXTRA_BYTES = 8 * 1024 * 1024
#: Digits of the largest size any setting allows (2**62): a longer number is over every cap.
_SIZE_DIGITS = 19


# ---- wire shapes ----------------------------------------------------------------------------


def _details_to_wire(details: VideoDetails, public_url: str) -> dict[str, Any]:
    body = video_to_wire(details.video, public_url, details.files)
    # Offload extension: why transcoding failed, and the jobs behind the video.
    body["transcodingError"] = details.video.error
    body["jobs"] = [
        {
            "uuid": j.uuid,
            "type": str(j.type),
            "state": j.state.to_wire(),
            "priority": j.priority,
            "failures": j.failures,
            "error": j.error,
        }
        for j in details.jobs
    ]
    return body


def _upload_answer(video: Video) -> dict[str, Any]:
    return {"video": {"id": video.id, "uuid": video.uuid, "shortUUID": video.short_uuid}}


def _name(raw: object, field: str = "name") -> str:
    if not isinstance(raw, str) or not 3 <= len(raw.strip()) <= 120 or "\x00" in raw:
        raise BadParams(field, messages={field: "a name of 3 to 120 characters is required"})
    return raw.strip()


def _optional_int(fields: dict[str, Any], field: str) -> int | None:
    raw = fields.get(field)
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)  # a JSON body's number
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or not re.fullmatch(r"[0-9]{1,10}", raw):
        raise BadParams(field)
    return int(raw)


async def _checked_attributes(fields: dict[str, Any], user: User, services: ServicesDep) -> int:
    """PeerTube's checks on an upload's other attributes; the id of the channel's owner.

    Only the channel is kept (it says whose video it is): the rest is checked so a client
    learns of a mistake as PeerTube would tell it, then left out (see video_wire).
    `channelId` may be left out, meaning the uploader's own channel.
    """
    for field, allowed in (("privacy", PRIVACIES), ("category", CATEGORIES), ("licence", LICENCES)):
        value = _optional_int(fields, field)
        if value is not None and value not in allowed:
            raise BadParams(field)
    language = fields.get("language")
    if language and (
        not isinstance(language, str) or not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z]{2,4})?", language)
    ):
        raise BadParams("language")
    channel_id = _optional_int(fields, "channelId") if "channelId" in fields else user.id
    if channel_id is None:
        raise BadParams("channelId")
    owner = user if channel_id == user.id else await services.accounts.get_user(channel_id)
    if owner is None:
        raise HttpProblem(400, 'Unknown video "video channel" for this instance.')
    if owner.id != user.id and not user.is_admin:
        raise HttpProblem(400, 'Unknown video "video channel" for this account.')
    return owner.id


def _size(raw: str, field: str) -> int:
    """A byte count from a header; past any cap it is a 413, not a number to parse."""
    if not re.fullmatch(r"[0-9]+", raw):
        raise BadParams(field, messages={field: "the file size is required"})
    if len(raw.lstrip("0")) > _SIZE_DIGITS:
        raise FileTooLarge()
    return int(raw)


def _unreadable(exc: UnreadableMedia) -> HttpProblem:
    # PeerTube answers an unreadable upload with 422 "Video file unreadable."
    return HttpProblem(422, exc.message)


# ---- listing and reading --------------------------------------------------------------------


def _int_param(request: Request, name: str, default: int, hi: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) > (hi if hi is not None else 2**31 - 1):
        raise BadParams(name)
    return int(raw)


@router.get("")
async def list_videos(request: Request, services: ServicesDep) -> dict[str, Any]:
    start = _int_param(request, "start", 0, None)
    count = _int_param(request, "count", 15, 100)
    sort = request.query_params.get("sort", "-createdAt")
    if sort.lstrip("-") not in _SORTS or sort.count("-") > 1:
        raise BadParams("sort")
    media = media_of(services)
    total, page = await media.videos.list(start, count, sort)
    return {"total": total, "data": [video_to_wire(v, media.videos.public_url) for v, _ in page]}


@router.get("/categories")
async def categories() -> dict[int, str]:
    return CATEGORIES


@router.get("/licences")
async def licences() -> dict[int, str]:
    return LICENCES


@router.get("/languages")
async def languages() -> dict[str, str]:
    return LANGUAGES


@router.get("/privacies")
async def privacies() -> dict[int, str]:
    return PRIVACIES


def _ident(videoId: str) -> Any:
    ident = parse_video_id(videoId)
    if ident is None:
        raise BadParams("id")
    return ident


# ---- multipart upload -----------------------------------------------------------------------


class _CappedBody:
    """The request with its body counted as it streams: past the file allowance plus the form's
    other parts, reading stops with the allowance's refusal (a client that sends more than it
    said, or says nothing: chunked)."""

    def __init__(self, request: Request, allowance: UploadAllowance) -> None:
        self.allowance = allowance
        self.limit = max(allowance.max_bytes, 0) + FORM_EXTRA_BYTES
        self.received = 0
        #: Why reading stopped, if it did.
        self.refusal: PayloadTooLarge | None = None
        self._receive = request.receive
        self.request = Request(request.scope, self.receive)
        declared = request.headers.get("content-length")
        if declared is not None:
            # The file is at least the body less the other parts: refuse before reading.
            allowance.check(_size(declared, "Content-Length") - FORM_EXTRA_BYTES)

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                try:
                    self.allowance.check(self.received - FORM_EXTRA_BYTES)
                except PayloadTooLarge as exc:
                    self.refusal = exc
                    raise
        return message


@router.post("/upload")
async def upload(request: Request, user: AdminUser, services: ServicesDep) -> dict[str, Any]:
    """PeerTube's legacy upload: multipart `videofile`, `name`, optional `previewfile`."""
    media = media_of(services)
    body = _CappedBody(request, await media.videos.limiter.allowance(user.id))
    try:
        with disk_full_as_storage_full():
            form = await parse_multipart(body.request, media.storage.upload_tmp_dir)
    except BadParams:
        if body.refusal is not None:
            raise body.refusal from None  # cut off on purpose, not malformed
        raise
    try:
        name = _name(form.fields.get("name"))
        owner_id = await _checked_attributes(form.fields, user, services)
        unexpected = set(form.files) - {"videofile", "previewfile"}
        if unexpected:
            raise BadParams(
                *sorted(unexpected), messages={f: "Unexpected file field" for f in unexpected}
            )
        if "videofile" not in form.files:
            raise BadParams(
                "videofile", messages={"videofile": "a video or audio file is required"}
            )
        try:
            video = await media.videos.create(
                name=name,
                media=form.files["videofile"],
                original_filename="",
                preview=form.files.get("previewfile"),
                owner_id=owner_id,
            )
        except UnreadableMedia as exc:
            raise _unreadable(exc) from exc
    finally:
        form.cleanup()  # whatever the service did not move into place
    return _upload_answer(video)


# ---- resumable upload (PeerTube's uploadx protocol) -------------------------------------------


def _upload_id(request: Request) -> str:
    upload_id = request.query_params.get("upload_id", "")
    if not re.fullmatch(r"[0-9a-f]{32}", upload_id):
        raise BadParams("upload_id")
    return upload_id


async def _owned_upload(media: MediaPipeline, upload_id: str, user: Any) -> dict[str, Any]:
    upload = await media.videos.get_upload(upload_id)
    if upload["user_id"] != user.id:
        raise Forbidden("This upload belongs to another user")
    return upload


def _resume(received: int) -> Response:
    """308 Resume Incomplete, with the bytes held so far (none: no Range header)."""
    headers = {"Range": f"bytes=0-{received - 1}"} if received else {}
    return Response(status_code=308, headers=headers)


@router.post("/upload-resumable", status_code=201)
async def start_resumable(request: Request, user: AdminUser, services: ServicesDep) -> Response:
    """Open an upload: JSON metadata (`name`, `filename`), size in `X-Upload-Content-Length`."""
    try:
        body = await request.json()
    except ValueError as exc:
        raise BadParams("body", messages={"body": "a JSON object is expected"}) from exc
    if not isinstance(body, dict):
        raise BadParams("body")
    filename = body.get("filename")
    if not isinstance(filename, str) or not 1 <= len(filename) <= 300 or "\x00" in filename:
        raise BadParams("filename")
    name = _name(body.get("name"))
    await _checked_attributes(body, user, services)
    size = _size(request.headers.get("x-upload-content-length", ""), "X-Upload-Content-Length")
    if size < 1:
        raise BadParams(
            "X-Upload-Content-Length",
            messages={"X-Upload-Content-Length": "the file size is required"},
        )
    media = media_of(services)
    upload_id = await media.videos.start_upload(
        user.id, size=size, filename=filename, metadata={"name": name}
    )
    return Response(
        status_code=201,
        headers={"Location": f"/api/v1/videos/upload-resumable?upload_id={upload_id}"},
    )


@router.put("/upload-resumable", responses={308: {"description": "Resume incomplete"}})
async def put_resumable(request: Request, user: AdminUser, services: ServicesDep) -> Any:
    """Send a chunk (`Content-Range: bytes a-b/total`) or ask how far we got (`bytes */total`)."""
    media = media_of(services)
    upload_id = _upload_id(request)
    upload = await _owned_upload(media, upload_id, user)
    total = int(upload["size"])
    content_range = request.headers.get("content-range", "").strip()
    status = _STATUS_RE.match(content_range)
    if status or not content_range:
        received = await media.videos.received_bytes(upload_id)
        if received < total:
            return _resume(received)
        return await _finish(media, upload_id)
    match = _RANGE_RE.match(content_range)
    if not match:
        raise BadParams("Content-Range")
    start, end, declared = (int(g) for g in match.groups())
    if declared != total or end < start or end >= total:
        raise BadParams(
            "Content-Range",
            messages={"Content-Range": f"the range must lie within the {total} announced bytes"},
        )
    length = request.headers.get("content-length", "")
    if length and _size(length, "Content-Length") > end - start + 1:
        await media.videos.cancel_upload(upload_id)
        raise ChunkTooLarge()
    disconnected = False

    async def body() -> AsyncIterator[bytes]:
        nonlocal disconnected
        try:
            async for chunk in request.stream():
                yield chunk
        except ClientDisconnect:
            disconnected = True  # keep what arrived; the client resumes from there

    received = await media.videos.write_chunk(upload_id, start, end - start + 1, body())
    if disconnected or received < total:
        return _resume(received)
    return await _finish(media, upload_id)


async def _finish(media: MediaPipeline, upload_id: str) -> dict[str, Any]:
    try:
        video = await media.videos.finish_upload(upload_id)
    except UnreadableMedia as exc:
        raise _unreadable(exc) from exc
    return _upload_answer(video)


@router.delete("/upload-resumable", status_code=204)
async def cancel_resumable(request: Request, user: AdminUser, services: ServicesDep) -> Response:
    media = media_of(services)
    upload_id = _upload_id(request)
    await _owned_upload(media, upload_id, user)
    await media.videos.cancel_upload(upload_id)
    return Response(status_code=204)


# ---- one video (after the fixed paths above, which `/{videoId}` would shadow) ------------------


@router.get("/{videoId}")
async def get_video(videoId: str, services: ServicesDep) -> dict[str, Any]:
    media = media_of(services)
    details = await media.videos.details(_ident(videoId))
    return _details_to_wire(details, media.videos.public_url)


@router.get("/{videoId}/storyboards")
async def storyboards(videoId: str, services: ServicesDep) -> dict[str, Any]:
    """PeerTube's storyboards of a video: none, or its one sprite sheet and geometry."""
    return await storyboards_to_wire(media_of(services).videos, _ident(videoId))


@router.get("/{videoId}/captions")
async def captions(videoId: str, services: ServicesDep) -> dict[str, Any]:
    """PeerTube's captions of a video: one per language, with the file's path and URL."""
    return await captions_to_wire(media_of(services).videos, _ident(videoId))


@router.post("/{videoId}/captions/generate", status_code=204)
async def generate_captions(videoId: str, _: AdminUser, services: ServicesDep) -> Response:
    """PeerTube's on-demand transcription: a `video-transcription` job for the video (400 when
    transcription is off or the video has no audio, 409 while one is pending)."""
    await TranscriptionPlanner(media_of(services).videos).generate(_ident(videoId))
    return Response(status_code=204)


@router.put("/{videoId}", status_code=204)
async def update_video(
    videoId: str, request: Request, user: AdminUser, services: ServicesDep
) -> Response:
    """PeerTube's update, as JSON or a form: the name may change, the rest is checked as on upload."""
    ident = _ident(videoId)
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            fields = await request.json()
        except ValueError as exc:
            raise BadParams("body", messages={"body": "a JSON object is expected"}) from exc
    else:
        form = await parse_multipart(request, media_of(services).storage.upload_tmp_dir)
        form.cleanup()  # thumbnails and previews are not kept
        fields = form.fields
    if not isinstance(fields, dict):
        raise BadParams("body", messages={"body": "a JSON object is expected"})
    name = _name(fields["name"]) if "name" in fields else None
    await _checked_attributes(fields, user, services)
    media = media_of(services)
    if name is None:
        await media.videos.get(ident)  # still a 404 for an unknown video
    else:
        await media.videos.rename(ident, name)
    return Response(status_code=204)


@router.delete("/{videoId}", status_code=204)
async def delete_video(videoId: str, _: AdminUser, services: ServicesDep) -> Response:
    await media_of(services).videos.delete(_ident(videoId))
    return Response(status_code=204)
