"""The media pipeline of one instance process, assembled: storage, runtime configuration,
videos, the job types' completion handlers, the local workers and the file janitor.

The app's lifespan builds it before the job service (the handlers must be registered there),
attaches the job service, then starts and stops its background tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from offload.domain.jobs import JobType
from offload.domain.uploads import UploadLimits
from offload.instance.jobs import JobService
from offload.instance.local_workers import LocalWorkers
from offload.instance.media_config import ConfigService
from offload.instance.results import JobHandler
from offload.instance.videos import VideoService
from offload.jobs.completions import BUILTIN_COMPLETIONS
from offload.media.storage import MediaStorage
from offload.settings import InstanceSettings
from offload.store.database import Database

__all__ = ["MediaPipeline", "media_of"]

log = logging.getLogger(__name__)


class MediaPipeline:
    def __init__(
        self, db: Database, now: Callable[[], datetime], settings: InstanceSettings
    ) -> None:
        self.settings = settings
        self.storage = MediaStorage(settings.data_dir)
        self.config = ConfigService(db, settings)
        limits = UploadLimits(
            max_file_bytes=settings.upload_max_bytes,
            max_duration_s=settings.upload_max_duration_s,
            default_video_quota=settings.user_video_quota_bytes,
            default_video_quota_daily=settings.user_video_quota_daily_bytes,
            resumable_expiry_s=settings.resumable_upload_expiry_s,
        )
        self.videos = VideoService(
            db,
            now,
            self.storage,
            self.config,
            str(settings.public_url),
            limits=limits,
            ffmpeg_path=settings.ffmpeg_path,
        )
        self._handlers = {
            job_type: build(self.videos, now, self._changed)
            for job_type, build in BUILTIN_COMPLETIONS.items()
        }
        self.workers: LocalWorkers | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    def handlers(self) -> dict[JobType, JobHandler]:
        """The completion handler of every job type that has one (`offload.jobs.completions`)."""
        return dict(self._handlers)

    def _changed(self) -> None:
        """A completion or failure may have promoted jobs: the local workers look again."""
        if self.workers is not None:
            self.workers.wake()

    def attach(self, jobs: JobService) -> None:
        self.videos.jobs = jobs
        self.workers = LocalWorkers(
            jobs,
            self.videos,
            concurrency=self.settings.local_transcoding_concurrency,
            ffmpeg_path=self.settings.ffmpeg_path,
        )
        self.videos.on_local_jobs = self.workers.wake

    async def start(self) -> None:
        """Prepare the media tree, repair what a crash may have left, start background work."""
        assert self.workers is not None, "attach the job service first"
        self.storage.ensure_dirs()
        rewritten = await self.videos.rewrite_masters()
        if rewritten:
            log.info("rewrote %d master playlist(s) from the database", rewritten)
        await self.workers.recover()
        # The janitor looks at least as often as resumable uploads expire.
        janitor_interval_s = min(30.0, self.settings.resumable_upload_expiry_s)
        self._tasks.append(
            asyncio.create_task(self.videos.run_janitor(janitor_interval_s), name="media-janitor")
        )
        self._tasks.extend(self.workers.start())

    async def stop(self) -> None:
        await self.videos.stop_after_publish()
        if self.workers is not None:
            await self.workers.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()


def media_of(services: Any) -> MediaPipeline:
    """The pipeline stored in `Services.extras` by the app's lifespan."""
    pipeline = services.extras.get("media")
    if pipeline is None:
        raise RuntimeError("the media pipeline is not running")
    return pipeline  # type: ignore[no-any-return]
