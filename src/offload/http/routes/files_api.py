"""Job input files R9–R12: the current max-quality file, its audio, the preview, the studio
task files.

Served to the runner holding the job only, with Range support and never through a redirect
(a redirected POST loses its JSON body). The file is chosen at request time, so a job created
before a better rendition existed still reads the best one there is now.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.types import Receive, Scope, Send

from offload.domain.errors import NotFound, VideoNotOfJob
from offload.domain.jobs import Job, JobState
from offload.domain.videos import Video, max_quality_file, newest_files, parse_video_id
from offload.http.deps import ServicesDep, enforce_rate_limit
from offload.http.errors import BadParams
from offload.http.routes.runner_api import check_job_uuid
from offload.http.schemas import JobFileBody
from offload.instance.media import MediaPipeline, media_of
from offload.jobs.studio_completion import task_file_path
from offload.media.storage import mime_type

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/runners/jobs", tags=["runners"])

_PATH = "/{jobUUID}/files/videos/{videoId}"


class FileGone(NotFound):
    """File not found"""


async def _video_of_job(
    jobUUID: str, videoId: str, body: JobFileBody, request: Request, services: ServicesDep
) -> tuple[MediaPipeline, Video, Job]:
    """The job-of-runner checks, then the video: bad id 400, unknown 404, another video 403."""
    check_job_uuid(jobUUID)
    ident = parse_video_id(videoId)
    if ident is None:
        raise BadParams("videoId")
    await enforce_rate_limit(request, services, body.runnerToken)
    runner = await services.runners.find(body.runnerToken)
    job = await services.jobs.load_runner_job(jobUUID, runner, body.jobToken, {JobState.PROCESSING})
    media = media_of(services)
    video = await media.videos.get(ident)
    if job.private_payload.get("videoUUID") != video.uuid:
        raise VideoNotOfJob()
    return media, video, job


async def _serve_max_quality(media: MediaPipeline, video: Video, *, audio: bool) -> FileResponse:
    # A completion may replace the chosen file between the choice and the open: choose again.
    for _ in range(3):
        chosen = max_quality_file(newest_files(await media.videos.files(video)), audio=audio)
        if chosen is None:
            raise FileGone()
        path = media.storage.file_path(video.uuid, chosen)
        if path.is_file():
            return _file(path)
    raise FileGone()


class PostFileResponse(FileResponse):
    """A FileResponse that honours Range on POST too: runners download with POST (their tokens
    ride in the JSON body) and Express's `sendFile` answers their ranges; Starlette only does
    so for GET and HEAD."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") == "http" and scope.get("method", "").upper() == "POST":
            scope = {**scope, "method": "GET"}
        await super().__call__(scope, receive, send)


def _file(path: Path) -> FileResponse:
    return PostFileResponse(path, media_type=mime_type(path.name))


@router.post(_PATH + "/max-quality")
async def max_quality(
    jobUUID: str, videoId: str, body: JobFileBody, request: Request, services: ServicesDep
) -> FileResponse:
    """R9: the best file with a video stream (or the best audio file of an audio upload)."""
    media, video, _ = await _video_of_job(jobUUID, videoId, body, request, services)
    return await _serve_max_quality(media, video, audio=False)


@router.post(_PATH + "/max-quality/audio")
async def max_quality_audio(
    jobUUID: str, videoId: str, body: JobFileBody, request: Request, services: ServicesDep
) -> FileResponse:
    """R10: the best audio-only file, or the max-quality file when audio is not split."""
    media, video, _ = await _video_of_job(jobUUID, videoId, body, request, services)
    return await _serve_max_quality(media, video, audio=True)


@router.post(_PATH + "/previews/max-quality")
@router.post(_PATH + "/thumbnails/max-quality")
async def preview(
    jobUUID: str, videoId: str, body: JobFileBody, request: Request, services: ServicesDep
) -> FileResponse:
    """R11: the video's preview image (both PeerTube paths)."""
    media, video, _ = await _video_of_job(jobUUID, videoId, body, request, services)
    if not video.preview_filename:
        raise FileGone("This video has no preview")
    path = media.storage.preview_path(video.preview_filename)
    if not path.is_file():
        raise FileGone()
    return _file(path)


@router.post(_PATH + "/studio/task-files/{filename}")
@router.get(_PATH + "/studio/task-files/{filename}", include_in_schema=False)
async def studio_task_file(
    jobUUID: str,
    videoId: str,
    filename: str,
    body: JobFileBody,
    request: Request,
    services: ServicesDep,
) -> FileResponse:
    """R12: an intro, outro or watermark of the studio job's tasks (400 for a malformed name or
    a file none of this job's tasks names)."""
    media, video, job = await _video_of_job(jobUUID, videoId, body, request, services)
    path = task_file_path(media.videos, job, video, filename)
    if not path.is_file():
        raise FileGone()
    return _file(path)
