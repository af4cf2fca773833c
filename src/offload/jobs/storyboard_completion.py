"""`generate-video-storyboard`, instance side: the job planned once a video is published, and
its completion (the sheet must decode to the announced grid; it is stored under
`<data>/storyboards/` with one row per video, replacing the previous one).

PeerTube (`video-storyboard-job-handler.ts`): one job with priority 95 when storyboards are on
and the video has a video stream, none when the video is too short; the sheet's size is
measured from the image, the sprite size and duration come from the payload.

Instance only: the runner never imports this module (it reaches the database).
"""

from __future__ import annotations

import asyncio
import logging
import uuid as uuidlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import av
import av.error
from sqlalchemy.ext.asyncio import AsyncConnection

from offload.domain.errors import OutputRefused
from offload.domain.jobs import Job, JobSpec, JobType
from offload.domain.ladder import LadderJob, input_file_url
from offload.domain.videos import VideoId, VideoState, max_quality_file, playable_files
from offload.instance.results import Commit, CompletionFactory, JobHandler, PostedPayload
from offload.instance.videos import VideoService
from offload.jobs.storyboard import SpriteGeometry, sprite_geometry
from offload.store.storyboards import Storyboard, StoryboardRepository

__all__ = [
    "COMPLETIONS",
    "STORYBOARD_PRIORITY",
    "StoryboardCompletion",
    "StoryboardPlanner",
    "storyboards_to_wire",
]

log = logging.getLogger(__name__)

#: `JOB_PRIORITY.STORYBOARD`: served before VOD renditions (100 + N).
STORYBOARD_PRIORITY = 95


class StoryboardPlanner:
    """Adds the storyboard job of a video that was just published (`after_publish` hook)."""

    def __init__(self, videos: VideoService) -> None:
        self.videos = videos

    async def __call__(self, video_id: int) -> None:
        videos = self.videos
        # A write transaction on the video's row: it waits for the one that published.
        async with videos.db.write() as conn:
            video = await videos.repo.lock(conn, video_id)
            files = await videos.repo.list_files(conn, video_id) if video else []
        if video is None or video.state is not VideoState.PUBLISHED or not video.has_video:
            return
        config = await videos.config.current()
        if not config.storyboards:
            return
        source = max_quality_file(playable_files(video, files))
        geometry = (
            sprite_geometry(video.duration_s or 0.0, source.width, source.height)
            if source is not None and source.has_video
            else None
        )
        if geometry is None:
            log.info("no storyboard for video %s: too short or no picture", video.uuid)
            return
        job_uuid = str(uuidlib.uuid4())
        spec = JobSpec(
            type=JobType.STORYBOARD,
            payload={
                "input": {"videoFileUrl": input_file_url(videos.public_url, job_uuid, video.uuid)},
                "sprites": geometry.to_wire(),
                "output": {},
            },
            private_payload={"videoUUID": video.uuid},
            priority=STORYBOARD_PRIORITY,
        )
        await videos.add_jobs(
            video, [LadderJob(job_uuid, spec, required=False)], local=not config.remote_storyboard
        )


async def storyboards_to_wire(videos: VideoService, ident: VideoId) -> dict[str, Any]:
    """PeerTube's `GET /videos/{id}/storyboards` answer (VideoNotFound for an unknown video)."""
    video = await videos.get(ident)
    async with videos.db.read() as conn:
        board = await StoryboardRepository().of_video(conn, video.id)
    if board is None:
        return {"storyboards": []}
    path = f"/lazy-static/storyboards/{board.filename}"
    return {
        "storyboards": [
            {
                "storyboardPath": path,
                "fileUrl": f"{videos.public_url}{path}",
                "totalWidth": board.total_width,
                "totalHeight": board.total_height,
                "spriteWidth": board.sprite_width,
                "spriteHeight": board.sprite_height,
                "spriteDuration": board.sprite_duration_s,
            }
        ]
    }


def _image_size(path: Path) -> tuple[int, int]:
    """Width and height of the first picture the file decodes to."""
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                return frame.width, frame.height
    except (av.error.FFmpegError, IndexError, UnicodeDecodeError) as exc:
        raise OutputRefused(f"the storyboard is not an image: {exc}") from exc
    raise OutputRefused("the storyboard is not an image: it decodes to nothing")


class StoryboardCompletion:
    """The `JobHandler` of `generate-video-storyboard`."""

    def __init__(self, videos: VideoService, now: Callable[[], datetime]) -> None:
        self.videos = videos
        self.now = now
        self.repo = StoryboardRepository()

    async def complete(self, job: Job, result: PostedPayload) -> Commit | None:
        video_uuid = str(job.private_payload.get("videoUUID", ""))
        async with self.videos.db.read() as conn:
            video = await self.videos.repo.get_by_uuid(conn, video_uuid)
        if video is None:
            log.info("video %s of job %s is gone; dropping the storyboard", video_uuid, job.uuid)
            return None
        geometry = SpriteGeometry.from_wire(job.payload["sprites"])
        source = result.files["storyboardFile"]
        size = await asyncio.to_thread(_image_size, source)
        wanted = (geometry.total_width, geometry.total_height)
        if size != wanted:
            raise OutputRefused(
                f"the storyboard is {size[0]}x{size[1]}, not the {wanted[0]}x{wanted[1]} grid "
                f"of {geometry.columns}x{geometry.rows} sprites asked for"
            )
        storage = self.videos.storage
        filename = f"{uuidlib.uuid4()}.jpg"
        target = storage.storyboards_dir / filename
        await self.videos.forget_later([target])
        await asyncio.to_thread(storage.place, source, target)
        board = Storyboard(
            video.id,
            filename,
            size[0],
            size[1],
            geometry.sprite_width,
            geometry.sprite_height,
            geometry.sprite_duration_s,
        )

        async def commit(conn: AsyncConnection) -> None:
            if await self.videos.repo.lock(conn, video.id) is None:
                return  # deleted meanwhile: the placed sheet is queued for deletion already
            replaced = await self.repo.replace(conn, board, self.now())
            if replaced is not None:
                await self.videos.repo.add_garbage(
                    conn, [storage.relative(storage.storyboards_dir / replaced)], self.now()
                )
                self.videos.kick_janitor()

        return commit

    async def on_update(self, job: Job, update: PostedPayload) -> None:
        return None

    async def on_finished(self, job: Job) -> None:
        return None  # an optional job: the video stays as it is


def _completion(
    videos: VideoService, now: Callable[[], datetime], on_change: Callable[[], None]
) -> JobHandler:
    # The job follows publication; the planner rides along with the handler so that the
    # type stays one unit (one module, one registration).
    videos.after_publish.append(StoryboardPlanner(videos))
    return StoryboardCompletion(videos, now)


COMPLETIONS: dict[JobType, CompletionFactory] = {JobType.STORYBOARD: _completion}
