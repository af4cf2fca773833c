"""Video studio: PeerTube's `POST /api/v1/videos/{id}/studio/edit`.

A multipart body of `tasks[i][name]`, `tasks[i][options][…]` and, for intros, outros and
watermarks, a file part `tasks[i][options][file]`. The answer is PeerTube's 204 once the edit is
queued; what it does is `jobs/studio_completion.py`'s. A refused edit stores nothing and queues
nothing: the file parts are removed whatever happens.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from offload.domain.videos import parse_video_id
from offload.http.deps import AdminUser, ServicesDep
from offload.http.errors import BadParams
from offload.http.multipart import UploadLimits, parse_multipart
from offload.instance.media import media_of
from offload.jobs.studio_completion import request_edit
from offload.media.storage import disk_full_as_storage_full

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/videos", tags=["video studio"])

#: Room for the text parts of an edit besides its files.
_FORM_EXTRA_BYTES = 1024 * 1024


@router.post("/{videoId}/studio/edit", status_code=204)
async def edit(videoId: str, request: Request, user: AdminUser, services: ServicesDep) -> Response:
    """Queue a studio edit of the video (PeerTube's 204), or refuse it with nothing kept."""
    ident = parse_video_id(videoId)
    if ident is None:
        raise BadParams("videoId")
    media = media_of(services)
    if request.headers.get("content-type", "").startswith("application/json"):
        # Tasks without files (cuts, segment removals) may come as JSON, as PeerTube takes them.
        try:
            body = await request.json()
        except ValueError as exc:
            raise BadParams("body", messages={"body": "a JSON object is expected"}) from exc
        if not isinstance(body, dict):
            raise BadParams("body", messages={"body": "a JSON object is expected"})
        await request_edit(media.videos, ident, user, body, {})
        return Response(status_code=204)
    file_cap = media.videos.limits.max_file_bytes
    with disk_full_as_storage_full():
        form = await parse_multipart(
            request,
            media.storage.upload_tmp_dir,
            limits=UploadLimits(body_bytes=4 * file_cap + _FORM_EXTRA_BYTES, file_bytes=file_cap),
        )
    try:
        with disk_full_as_storage_full():
            await request_edit(media.videos, ident, user, form.fields, form.files)
    finally:
        form.cleanup()  # what the edit did not keep
    return Response(status_code=204)
