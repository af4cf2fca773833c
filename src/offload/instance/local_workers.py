"""The instance's own VOD workers, for jobs created while remote VOD runners were off.

Each worker behaves like a runner living in the instance: it claims a PENDING local job with
the same conditional UPDATE `accept` uses (a fresh job token, no runner row), heartbeats through
`JobService.update`, runs the job with its type's processing step from `JobService.kinds` (the
runner's own code), and reports through `JobService.success` / `error`, so the same completion
handler checks and stores the output. Inputs are read from the media tree directly
(hard-linked, so a rendition replaced meanwhile stays readable), not over HTTP.

Nothing a job does takes its worker down: whatever goes wrong around it (its heartbeat, its
report, the database) is logged and the job is errored (retried) if the database still
listens, or left to the watchdog's stall threshold if not. A worker whose loop dies anyway
(its claim fails: the database is down or locked) is restarted by its supervisor after a
pause that grows while the failures go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from offload.domain import tokens
from offload.domain.errors import (
    JobNotFound,
    JobNotProcessing,
    JobNotProcessingAnymore,
    OffloadError,
    UnknownRunnerJob,
)
from offload.domain.jobs import Job, JobState
from offload.domain.videos import VideoId, max_quality_file, newest_files
from offload.instance.jobs import JobService
from offload.instance.results import PostedPayload
from offload.instance.videos import VideoService
from offload.jobs.kind import Output, split_output
from offload.media.ffmpeg import FfmpegOptions, resolve_ffmpeg_path
from offload.media.processors import process_job
from offload.store.database import DatabaseUnavailable

__all__ = ["LOCAL_RUNNER_NAME", "LocalWorkers", "input_path"]

log = logging.getLogger(__name__)

#: How job attempts of the local workers appear in a job's history.
LOCAL_RUNNER_NAME = "instance (local)"
#: Heartbeat period: well inside the VOD stale threshold (2 min), like the runner's 60 s.
HEARTBEAT_S = 20.0
#: Idle workers look for work this often even without a wake-up.
POLL_S = 1.0
#: Pauses before restarting a worker whose loop died, growing while it keeps dying.
RESTART_DELAYS_S = (0.5, 1.0, 2.0, 5.0, 10.0)
#: A worker that ran this long before dying starts again from the shortest pause.
HEALTHY_RUN_S = 60.0
INTERRUPTED = "Local processing was interrupted by an instance restart"


_TASK_FILES = "studio/task-files/"


def input_path(url: str, storage_lookup: Callable[[str, str], Awaitable[Path]]) -> Awaitable[Path]:
    """Map a payload input URL (`…/files/videos/<video uuid>/<kind>`) to a lookup call."""
    parts = urlsplit(url).path.split("/files/videos/", 1)
    if len(parts) != 2 or "/" not in parts[1]:
        raise OffloadError(f"not an input file URL: {url}")
    video_uuid, kind = parts[1].split("/", 1)
    return storage_lookup(video_uuid, kind)


class LocalWorkers:
    """A pool of `concurrency` asyncio workers (ffmpeg does the heavy lifting in subprocesses)."""

    def __init__(
        self,
        jobs: JobService,
        videos: VideoService,
        *,
        concurrency: int = 1,
        ffmpeg_path: str | None = None,
        heartbeat_s: float = HEARTBEAT_S,
        poll_s: float = POLL_S,
    ) -> None:
        self.jobs = jobs
        self.videos = videos
        self.concurrency = max(0, concurrency)
        self.ffmpeg_path = ffmpeg_path
        self.heartbeat_s = heartbeat_s
        self.poll_s = poll_s
        self._wake = asyncio.Event()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._claim_lock = asyncio.Lock()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> list[asyncio.Task[None]]:
        self._workers = [
            asyncio.create_task(self._supervise(i), name=f"local-worker-{i}")
            for i in range(self.concurrency)
        ]
        return list(self._workers)

    async def recover(self) -> int:
        """Start-up: local jobs left PROCESSING by a previous process go back to PENDING (not
        counted as failures; nobody is working on them any more)."""
        async with self.videos.db.read() as conn:
            orphans = await self.videos.repo.local_jobs_in(conn, JobState.PROCESSING)
        for job in orphans:
            with contextlib.suppress(JobNotProcessing):
                await self.jobs.abort(job, INTERRUPTED)
        return len(orphans)

    async def stop(self) -> None:
        """Kill running ffmpegs and give their jobs back (abort: re-queued, not counted)."""
        self._stopping = True
        for task in [*self._workers, *self._running.values()]:
            task.cancel()
        for task in [*self._workers, *self._running.values()]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()

    # ---- the loop -------------------------------------------------------------------------

    async def _supervise(self, index: int) -> None:
        """Run worker `index`'s loop for as long as the pool runs, restarting it when it dies."""
        failures = 0
        while not self._stopping:
            started = asyncio.get_running_loop().time()
            try:
                await self._loop()
            except Exception as exc:
                if asyncio.get_running_loop().time() - started >= HEALTHY_RUN_S:
                    failures = 0
                delay = RESTART_DELAYS_S[min(failures, len(RESTART_DELAYS_S) - 1)]
                failures += 1
                outage = isinstance(exc, DatabaseUnavailable)  # no bug: one line, no traceback
                log.log(
                    logging.WARNING if outage else logging.ERROR,
                    "local worker %d died (%s); restarting it in %.1f s",
                    index,
                    exc,
                    delay,
                    exc_info=not outage,
                )
                await asyncio.sleep(delay)

    async def _loop(self) -> None:
        """Claim and run jobs one after the other. A failing claim (database down or locked)
        ends the loop: the supervisor pauses, then starts it again."""
        while True:
            job = await self.claim()
            if job is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
                self._wake.clear()
                continue
            task = asyncio.create_task(self._run_guarded(job), name=f"local-job-{job.uuid}")
            self._running[job.id] = task
            try:
                await asyncio.shield(task)
            finally:
                self._running.pop(job.id, None)

    async def claim(self) -> Job | None:
        """PENDING → PROCESSING for the best local job: `accept`'s conditional UPDATE."""
        async with self._claim_lock:
            async with self.videos.db.read() as conn:
                candidate = await self.videos.repo.next_local_job(
                    conn, self.jobs.now(), exclude=self._running
                )
            if candidate is None:
                return None
            now = self.jobs.now()
            async with self.jobs.db.write() as conn:
                accepted = await self.jobs.repo.accept(
                    conn, candidate.id, None, tokens.digest(tokens.new_job_token()), now, local=True
                )
                if accepted is None:
                    return None  # taken meanwhile; the next turn looks again
                await self.jobs.repo.open_attempt(conn, accepted, None, LOCAL_RUNNER_NAME, now)
            return accepted

    async def _run_guarded(self, job: Job) -> None:
        """Run the job; whatever escapes it is the job's failure, never the worker's."""
        try:
            await self._run(job)
        except Exception as exc:  # noqa: BLE001 - logged here, reported as the job's error
            log.exception("local job %s failed outside its processing", job.uuid)
            try:
                await self.jobs.error(job, _message_of(exc))
            except (JobNotProcessing, UnknownRunnerJob):
                pass  # it moved on (completed, cancelled, deleted): nothing to report
            except Exception:
                # The database is not listening either: the watchdog re-queues the job once
                # it has gone without heartbeat for the stall threshold.
                log.exception(
                    "could not report the failure of local job %s; the watchdog will re-queue it",
                    job.uuid,
                )

    async def _run(self, job: Job) -> None:
        workdir = self.videos.storage.tmp_dir / "local" / job.uuid
        progress: dict[str, int | None] = {"value": None}
        work = asyncio.create_task(
            process_job(
                str(job.type),
                dict(job.payload),
                workdir=workdir,
                fetch=lambda url: input_path(
                    url, lambda video_uuid, kind: self._fetch(video_uuid, kind, workdir)
                ),
                on_progress=lambda value: progress.__setitem__("value", value),
                ffmpeg=FfmpegOptions(path=resolve_ffmpeg_path(self.ffmpeg_path)),
                kinds=self.jobs.kinds,
            )
        )
        heartbeat = asyncio.create_task(self._heartbeat(job, work, progress))
        try:
            try:
                output = await work
            except asyncio.CancelledError:
                if self._stopping:
                    with contextlib.suppress(OffloadError):
                        await self.jobs.abort(
                            job, "Local processing stopped by an instance shutdown"
                        )
                    raise
                return  # the job was cancelled or taken away: its new owner reports
            except Exception as exc:  # noqa: BLE001 - any failure is the job's error, as a runner reports it
                message = _message_of(exc)
                log.warning("local job %s failed: %s", job.uuid, message)
                with contextlib.suppress(JobNotProcessing, UnknownRunnerJob):
                    await self.jobs.error(job, message)
                return
            await asyncio.shield(heartbeat)
            with contextlib.suppress(JobNotProcessingAnymore, JobNotProcessing):
                files, fields = split_output(output)
                await self.jobs.success(job, PostedPayload(fields=dict(fields), files=files))
        finally:
            await asyncio.shield(heartbeat)
            await asyncio.to_thread(shutil.rmtree, workdir, True)

    async def _heartbeat(
        self, job: Job, work: asyncio.Task[Output], progress: dict[str, int | None]
    ) -> None:
        """Keep the lease alive; stop the work when the job is no longer ours (admin cancel or
        delete). A failed beat (database hiccup) is logged and the next one tries again.

        It ends by itself once the work is done, and is never cancelled: a write cancelled
        halfway leaves SQLite's write lock with a connection closed but not yet freed, and
        every other write waits for it until the busy timeout."""
        while True:
            await asyncio.wait({work}, timeout=self.heartbeat_s)
            if work.done():
                return
            try:
                await self.jobs.update(job, progress["value"], PostedPayload())
                current = await self.jobs.get(job.uuid)
            except JobNotFound:
                work.cancel()
                return
            except Exception:
                log.warning(
                    "heartbeat of local job %s failed; trying again in %.0f s",
                    job.uuid,
                    self.heartbeat_s,
                    exc_info=True,
                )
                continue
            if (
                current.state is not JobState.PROCESSING
                or current.job_token_digest != job.job_token_digest
            ):
                work.cancel()
                return

    async def _fetch(self, video_uuid: str, kind: str, workdir: Path) -> Path:
        """The current input file, hard-linked into the job's workdir."""
        video = await self.videos.get(VideoId(uuid=video_uuid))
        if kind.startswith(_TASK_FILES):
            # A studio task file; its job named it (the instance wrote the payload).
            source = self.videos.storage.studio_dir(video.uuid) / Path(kind).name
        elif kind in ("previews/max-quality", "thumbnails/max-quality"):
            if not video.preview_filename:
                raise OffloadError("the video has no preview")
            source = self.videos.storage.preview_path(video.preview_filename)
        else:
            chosen = max_quality_file(
                newest_files(await self.videos.files(video)), audio=kind == "max-quality/audio"
            )
            if chosen is None:
                raise OffloadError("the video has no file to transcode")
            source = self.videos.storage.file_path(video.uuid, chosen)
        workdir.mkdir(parents=True, exist_ok=True)
        target = (
            workdir / f"task-{source.name}"
            if kind.startswith(_TASK_FILES)
            else workdir / f"input-{kind.replace('/', '-')}{source.suffix}"
        )
        if not target.exists():
            try:
                os.link(source, target)
            except OSError:
                await asyncio.to_thread(shutil.copyfile, source, target)
        return target


def _message_of(exc: BaseException) -> str:
    """A failure as the job's error message (the protocol caps it at 5000 characters)."""
    message = getattr(exc, "message", None)
    text = message if isinstance(message, str) and message else str(exc) or type(exc).__name__
    return text[:5000]
