"""The runner daemon: one asyncio process serving every registered instance.

Loop: wake on a socket ping, a finished job, an IPC request or the poll timer (the safety net
the official runner lacks); fill **all** free slots in one pass across instances; run each
accepted job as a task (download → ffmpeg → upload) with a heartbeat that also notices when
the job is taken away (404) and kills its ffmpeg at once. An Offload instance also pushes
`job-revoked`, which makes that heartbeat check at once instead of at its next tick. After 3
jobs in a row failed here it takes none for a while (`failurePauseSeconds`, doubling up to a
minute; a success ends the streak): a broken machine must not burn every job's tries.

Stopping: `graceful-shutdown` stops taking jobs and exits when the last one ends. SIGINT or
SIGTERM stops at once: job tasks are cancelled (which kills their ffmpeg process groups), every
in-flight job is aborted concurrently with reason "Runner stopped" within a deadline so the
instance re-queues it immediately, and the temp dir is emptied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import shutil
import signal
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from offload.jobs.kind import split_output
from offload.jobs.registry import BUILTIN_KINDS, JobKinds
from offload.media.errors import MissingCapability
from offload.media.ffmpeg import FfmpegOptions
from offload.media.processors import process_job
from offload.media.progress import FfmpegProgress
from offload.runner.cache import InputCache, cache_key
from offload.runner.client import InstanceClient
from offload.runner.config import RegisteredInstance, RunnerConfig, RunnerPaths
from offload.runner.custom_upload import custom_uploads_of
from offload.runner.errors import (
    InstanceError,
    InstanceUnreachable,
    JobGoneError,
    JobNotPendingError,
    UnknownRunnerTokenError,
)
from offload.runner.ipc import DaemonLock, IpcServer
from offload.runner.links import InstanceLink
from offload.runner.registration import register_instance, unregister_instance
from offload.runner.slots import can_take, fits_resolution, free_slots
from offload.runner.streak import FailureStreak

__all__ = ["KNOWN_JOB_TYPES", "STOP_REASON", "ActiveJob", "RunnerDaemon"]

log = logging.getLogger(__name__)

#: Every type PeerTube knows; `--enable-job` refuses anything else.
KNOWN_JOB_TYPES = (
    "vod-web-video-transcoding",
    "vod-hls-transcoding",
    "vod-audio-merge-transcoding",
    "live-rtmp-hls-transcoding",
    "video-studio-transcoding",
    "video-transcription",
    "generate-video-storyboard",
)
STOP_REASON = "Runner stopped"
STOP_DEADLINE_S = 10.0  # aborts that have not landed by then are left to the instance's watchdog
_HEARTBEAT_TICK_S = 0.25
_MIN_UPDATE_GAP_S = 2.0  # the instance refreshes updatedAt at most every 2 s anyway


@dataclass
class ActiveJob:
    """A job this runner accepted and has not finished."""

    link: InstanceLink
    uuid: str
    type: str
    payload: dict[str, Any]
    job_token: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    stage: str = "downloading"
    progress: int = 0
    speed: float | None = None
    downloaded_bytes: int = 0
    transcode_started: float | None = None
    gone: JobGoneError | None = None
    #: Set when the instance pushed `job-revoked`: the heartbeat checks with an update at once.
    check_now: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    work: asyncio.Task[None] | None = None

    @property
    def eta_s(self) -> float | None:
        """Seconds left, extrapolated from the transcoding progress so far."""
        if (
            self.stage != "transcoding"
            or self.transcode_started is None
            or not 0 < self.progress < 100
        ):
            return None
        elapsed = time.monotonic() - self.transcode_started
        return elapsed * (100 - self.progress) / self.progress

    def describe(self, include_payload: bool = False) -> dict[str, Any]:
        job: dict[str, Any] = {
            "uuid": self.uuid,
            "type": self.type,
            "startedAt": self.started_at.isoformat(),
            "progress": self.progress,
            "stage": self.stage,
            "speed": self.speed,
        }
        if include_payload:
            job["payload"] = self.payload
        return {"serverUrl": self.link.registration.url, "job": job}


class RunnerDaemon:
    """Owns the lock, the IPC socket, the links to instances and the running jobs."""

    def __init__(
        self,
        *,
        paths: RunnerPaths,
        config: RunnerConfig,
        ffmpeg: FfmpegOptions,
        enabled_types: list[str] | None = None,
        kinds: JobKinds = BUILTIN_KINDS,
        once: bool = False,
        view: Callable[[RunnerDaemon], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        self.paths = paths
        self.config = config
        self.ffmpeg = ffmpeg
        #: The job types this runner knows; it takes (and advertises) those it can process.
        self.kinds = kinds
        self.enabled_types = [
            t for t in (enabled_types or kinds.processable) if t in kinds.processable
        ]
        self.once = once
        self.view = view
        self.links: dict[tuple[str, str], InstanceLink] = {}
        self.jobs: dict[str, ActiveJob] = {}
        self.work_dir = config.work_directory or paths.cache_dir / "transcoding"
        self.draining = False
        self.stopping = False
        self._wake = asyncio.Event()
        self._fill_lock = asyncio.Lock()
        self._lock = DaemonLock(paths.lock_file)
        self._ipc = IpcServer(paths.socket, self._handle_ipc)
        self._cache: InputCache | None = None
        self._streak = FailureStreak(config.failure_pause_s)
        #: `time.monotonic()` until which no job is taken, after a streak of failures.
        self._paused_until = 0.0

    # ---- lifecycle ------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve until stopped. Raises DaemonAlreadyRunning if this id is taken."""
        self._lock.acquire()
        view_task: asyncio.Task[None] | None = None
        try:
            # Leftovers of a crash: safe to delete, the lock says nobody else uses them.
            shutil.rmtree(self.work_dir, ignore_errors=True)
            self.work_dir.mkdir(parents=True, exist_ok=True)
            self._cache = InputCache(self.paths.inputs_dir, self.config.input_cache_bytes)
            await self._ipc.start()
            for registration in self.config.registered_instances:
                self._add_link(registration)
            self._install_signal_handlers()
            log.info(
                "runner started: %s, concurrency %d, jobs %s, ffmpeg %s",
                f"{len(self.links)} instance(s)"
                if self.links
                else "no instance registered yet (offload runner register …)",
                self.config.concurrency,
                ", ".join(self.enabled_types),
                self.ffmpeg.path,
            )
            if self.view is not None:
                view_task = asyncio.create_task(self.view(self))
            await self._loop()
        finally:
            if view_task is not None:
                view_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await view_task
            await self._shutdown()
            self._lock.release()

    def request_stop(self) -> None:
        """Stop now (signals): abort in-flight jobs."""
        if self.stopping:
            log.warning("already stopping")
            return
        log.warning("stopping: in-flight jobs are aborted (%s)", STOP_REASON)
        self.stopping = True
        self._wake.set()

    def request_drain(self) -> None:
        """Stop taking jobs; exit once the running ones are done (graceful shutdown)."""
        log.warning(
            "graceful shutdown: no new jobs, exiting after %d running job(s)", len(self.jobs)
        )
        self.draining = True
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)

    async def _loop(self) -> None:
        self._wake.set()
        while not self.stopping:
            if self.draining and not self.jobs:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.config.poll_interval_s)
            self._wake.clear()
            if self.stopping or self.draining:
                continue
            await self._wait_out_pause()
            if self.stopping or self.draining:
                continue
            took = await self._fill()
            if self.once and not took and not self.jobs and not self._paused():
                log.info("--once: no job available and none running, exiting")
                return

    async def _wait_out_pause(self) -> None:
        """Take no job until a failure streak's pause is over; a stop, a drain or a success
        (which lifts the pause) ends the wait early."""
        while not (self.stopping or self.draining) and self._paused():
            left = self._paused_until - time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=left)
            self._wake.clear()

    def _count_failure(self) -> None:
        pause_s = self._streak.failed()
        if pause_s > 0:
            self._paused_until = time.monotonic() + pause_s
            log.warning(
                "%d jobs in a row failed on this runner: taking no job for %.1f s",
                self._streak.failures,
                pause_s,
            )

    def _count_success(self) -> None:
        self._streak.succeeded()
        self._paused_until = 0.0

    async def _shutdown(self) -> None:
        await self._stop_jobs(list(self.jobs.values()), STOP_REASON)
        await asyncio.gather(*(link.stop() for link in self.links.values()), return_exceptions=True)
        await self._ipc.stop()
        if self._cache is not None:
            self._cache.clear()
        shutil.rmtree(self.work_dir, ignore_errors=True)
        log.info("runner stopped")

    async def _stop_jobs(self, jobs: list[ActiveJob], reason: str) -> None:
        """Cancel the jobs' tasks (which kills each ffmpeg process group, see
        media.ffmpeg_process.run_ffmpeg), then abort them all at once so the instance re-queues
        them now rather than after its stall timeout."""
        tasks = [j.task for j in jobs if j.task is not None]
        for task in tasks:
            task.cancel()
        if not tasks:
            return
        await asyncio.wait(tasks, timeout=STOP_DEADLINE_S)
        log.warning("aborting %d job(s): %s", len(jobs), reason)
        try:
            await asyncio.wait_for(
                asyncio.gather(*(self._abort(j, reason) for j in jobs), return_exceptions=True),
                timeout=STOP_DEADLINE_S,
            )
        except TimeoutError:
            log.error(
                "some aborts did not land within %.0f s; the instance's watchdog will re-queue those jobs",
                STOP_DEADLINE_S,
            )

    async def _abort(self, job: ActiveJob, reason: str) -> None:
        try:
            await job.link.client.abort(
                job.link.registration.runner_token, job.uuid, job.job_token, reason
            )
            log.info("aborted job %s", job.uuid)
        except (InstanceError, InstanceUnreachable) as exc:
            log.warning("abort of job %s failed: %s", job.uuid, exc)

    # ---- instances ------------------------------------------------------------------------

    def _add_link(self, registration: RegisteredInstance) -> InstanceLink:
        link = InstanceLink(registration, self.wake, self._on_job_revoked)
        self.links[link.key] = link
        link.start()
        return link

    # ---- taking jobs ----------------------------------------------------------------------

    def running_types(self) -> Counter[str]:
        return Counter(job.type for job in self.jobs.values())

    def _can_take_more(self) -> bool:
        return (
            not (self.stopping or self.draining or self._paused())
            and free_slots(self.config.concurrency, self.running_types()) > 0
        )

    def _paused(self) -> bool:
        return time.monotonic() < self._paused_until

    async def _fill(self) -> bool:
        """Fill every free slot; True if at least one job was taken."""
        async with self._fill_lock:
            took_any = False
            while self._can_take_more():
                took = await self._fill_pass()
                took_any = took_any or took
                if not took:
                    break
            return took_any

    async def _fill_pass(self) -> bool:
        links = [link for link in self.links.values() if link.usable]
        random.shuffle(links)  # no instance starves another
        took = False
        for link in links:
            if not self._can_take_more():
                break
            if link.claims is not False:
                claimed = await self._claim_from(link)
                if claimed is not None:
                    took = took or claimed
                    continue
            took = await self._request_from(link) or took
        return took

    async def _claim_from(self, link: InstanceLink) -> bool | None:
        """Offload instances: take jobs in one atomic call, with no race to lose. None when the
        instance has no `jobs/claim` (PeerTube): the caller falls back to request + accept."""
        running = self.running_types()
        types = [
            t
            for t in self.enabled_types
            if can_take(t, running, self.config.concurrency, self.config.type_concurrency)
        ]
        if not types:
            return False
        # Per-type limits are checked job by job: claim one at a time when there are any.
        max_jobs = (
            1
            if self.config.type_concurrency
            else min(10, free_slots(self.config.concurrency, running))
        )
        try:
            claimed = await link.client.claim_jobs(
                link.registration.runner_token, types, max_jobs, self.config.max_resolution
            )
        except UnknownRunnerTokenError as exc:
            link.reject(exc)
            return False
        except (InstanceError, InstanceUnreachable) as exc:
            log.warning("job claim on %s failed: %s", link.registration.url, exc)
            return False
        if claimed is None:
            link.claims = False
            log.info(
                "%s has no jobs/claim (a PeerTube instance): using request + accept",
                link.registration.url,
            )
            return None
        link.claims = True
        link.accepted()
        for job in claimed:
            self._start_job(link, job)
        return bool(claimed)

    async def _request_from(self, link: InstanceLink) -> bool:
        """PeerTube's way: list the available jobs, then accept them one by one."""
        took = False
        token = link.registration.runner_token
        try:
            offers = await link.client.request_jobs(token, list(self.enabled_types))
        except UnknownRunnerTokenError as exc:
            link.reject(exc)
            return False
        except (InstanceError, InstanceUnreachable) as exc:
            log.warning("job request to %s failed: %s", link.registration.url, exc)
            return False
        link.accepted()
        for offer in offers:
            if not self._can_take_more():
                break
            job_type = str(offer.get("type"))
            # Old servers ignore jobTypes: filter here too.
            if job_type not in self.enabled_types:
                continue
            if not can_take(
                job_type,
                self.running_types(),
                self.config.concurrency,
                self.config.type_concurrency,
            ):
                continue
            if not fits_resolution(offer.get("payload") or {}, self.config.max_resolution):
                continue
            try:
                accepted = await link.client.accept(token, str(offer["uuid"]))
            except JobNotPendingError:
                log.debug("job %s was taken by another runner", offer.get("uuid"))
                continue
            except UnknownRunnerTokenError as exc:
                link.reject(exc)
                break
            except InstanceError as exc:
                log.debug("accept of %s refused: %s", offer.get("uuid"), exc)
                continue
            except InstanceUnreachable as exc:
                log.warning("accept on %s failed: %s", link.registration.url, exc)
                break
            self._start_job(link, accepted)
            took = True
        return took

    def _start_job(self, link: InstanceLink, accepted: dict[str, Any]) -> None:
        job = ActiveJob(
            link=link,
            uuid=str(accepted["uuid"]),
            type=str(accepted["type"]),
            payload=dict(accepted.get("payload") or {}),
            job_token=str(accepted["jobToken"]),
        )
        self.jobs[job.uuid] = job
        job.task = asyncio.create_task(self._run_job(job), name=f"job {job.uuid}")
        log.info("accepted %s job %s from %s", job.type, job.uuid, link.registration.url)

    def _on_job_revoked(self, link: InstanceLink, job_uuid: str, reason: str) -> None:
        """The instance says it took a job back. The push only triggers an immediate update:
        the instance's answer to that (404) is what stops the job, as for any update."""
        job = self.jobs.get(job_uuid)
        if job is None or job.link is not link:
            return
        log.info(
            "%s says job %s was taken back (%s); checking now",
            link.registration.url,
            job_uuid,
            reason or "no reason",
        )
        job.check_now.set()

    # ---- running one job ------------------------------------------------------------------

    async def _run_job(self, job: ActiveJob) -> None:
        workdir = self.work_dir / job.uuid
        leases: list[Path] = []
        heartbeat = asyncio.create_task(self._heartbeat(job), name=f"heartbeat {job.uuid}")
        started = time.monotonic()
        try:
            job.work = asyncio.create_task(
                self._work(job, workdir, leases), name=f"work {job.uuid}"
            )
            try:
                await job.work
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if job.gone is not None and current is not None and not current.cancelling():
                    log.warning(
                        "job %s is no longer ours (%s): its ffmpeg was killed", job.uuid, job.gone
                    )
                    return
                raise
            except JobGoneError as exc:
                log.warning("job %s is no longer ours (%s)", job.uuid, exc)
            except MissingCapability as exc:
                # Every job of this type would fail the same way: stop taking them rather than
                # burn their tries (and pause the other types) until the setup is fixed.
                self.enabled_types = [t for t in self.enabled_types if t != job.type]
                log.error(
                    "job %s failed: %s; taking no more %s jobs until the runner is restarted",
                    job.uuid,
                    exc,
                    job.type,
                )
                await self._report_error(job, exc)
            except Exception as exc:  # noqa: BLE001  any failure is the job's: report it, keep serving
                log.error("job %s failed: %s", job.uuid, exc)
                # Paused before the report re-queues the job, so that no fill pass starts a
                # claim that takes it straight back.
                self._count_failure()
                await self._report_error(job, exc)
            else:
                log.info(
                    "completed %s job %s in %.1f s", job.type, job.uuid, time.monotonic() - started
                )
                self._count_success()
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            for path in leases:
                if self._cache is not None:
                    self._cache.release(path)
            shutil.rmtree(workdir, ignore_errors=True)
            self.jobs.pop(job.uuid, None)
            self._wake.set()

    async def _work(self, job: ActiveJob, workdir: Path, leases: list[Path]) -> None:
        link = job.link
        token = link.registration.runner_token
        cache = self._cache
        assert cache is not None

        async def fetch(url: str) -> Path:
            job.stage = "downloading"

            def count(n: int) -> None:
                job.downloaded_bytes += n

            path = await cache.acquire(
                cache_key(link.registration.url, url),
                lambda destination, reuse: link.client.download(
                    url, token, job.job_token, destination, reuse=reuse, on_bytes=count
                ),
            )
            leases.append(path)
            job.stage = "transcoding"
            return path

        def on_progress(value: int) -> None:
            if value // 25 > job.progress // 25 and value < 100:
                log.info("job %s: %d %%", job.uuid, value)
            job.progress = value

        def on_stats(stats: FfmpegProgress) -> None:
            if job.transcode_started is None:
                job.transcode_started = time.monotonic()
            job.speed = stats.speed

        output = await process_job(
            job.type,
            job.payload,
            workdir=workdir,
            fetch=fetch,
            on_progress=on_progress,
            ffmpeg=self.ffmpeg,
            on_stats=on_stats,
            kinds=self.kinds,
        )
        job.stage = "uploading"
        files, fields = split_output(output)
        await link.client.success(
            token,
            job.uuid,
            job.job_token,
            files,
            fields,
            custom_uploads=custom_uploads_of(job.payload),
        )

    async def _heartbeat(self, job: ActiveJob) -> None:
        """Send progress at once, then on change (≥ 2 s apart) and at least every interval."""
        interval_s = self.config.progress_interval_s
        last_sent: float | None = None
        last_value: int | None = None
        client: InstanceClient = job.link.client
        while True:
            now = time.monotonic()
            forced = job.check_now.is_set()
            job.check_now.clear()
            due = (
                forced
                or last_sent is None
                or now - last_sent >= interval_s
                or (
                    job.progress != last_value
                    and now - last_sent >= min(interval_s, _MIN_UPDATE_GAP_S)
                )
            )
            if due:
                value = job.progress
                try:
                    await client.update(
                        job.link.registration.runner_token, job.uuid, job.job_token, value
                    )
                except JobGoneError as exc:
                    # Cancelled, re-queued or deleted on the instance: stop the work now rather
                    # than finishing something nobody will accept.
                    job.gone = exc
                    if job.work is not None and job.stage != "uploading":
                        job.work.cancel()
                    return
                except (InstanceError, InstanceUnreachable) as exc:
                    log.warning("progress update of job %s failed: %s", job.uuid, exc)
                last_sent, last_value = time.monotonic(), value
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(job.check_now.wait(), timeout=_HEARTBEAT_TICK_S)

    async def _report_error(self, job: ActiveJob, exc: BaseException) -> None:
        message = str(exc) or type(exc).__name__
        try:
            await job.link.client.error(
                job.link.registration.runner_token, job.uuid, job.job_token, message
            )
        except JobGoneError:
            log.info("job %s was no longer ours when reporting its error", job.uuid)
        except (InstanceError, InstanceUnreachable) as report_exc:
            log.error("could not report the failure of job %s: %s", job.uuid, report_exc)

    # ---- IPC ------------------------------------------------------------------------------

    async def _handle_ipc(self, request: dict[str, Any]) -> Any:
        kind = request.get("type")
        if kind == "register":
            return await self._register(request)
        if kind == "unregister":
            return await self._unregister(
                str(request.get("url", "")), str(request.get("runnerName", ""))
            )
        if kind == "list-registered":
            return {
                "servers": [
                    {
                        "url": r.url,
                        "runnerName": r.runner_name,
                        "runnerDescription": r.runner_description,
                    }
                    for r in (link.registration for link in self.links.values())
                ]
            }
        if kind == "list-jobs":
            include = bool(request.get("includePayload", True))
            return {
                "concurrency": self.config.concurrency,
                "processingJobs": [j.describe(include) for j in self.jobs.values()],
            }
        if kind == "graceful-shutdown":
            self.request_drain()
            return {}
        raise ValueError(f"unknown request type {kind!r}")

    async def _register(self, request: dict[str, Any]) -> dict[str, Any]:
        registration = await register_instance(
            self.paths.config_file,
            url=str(request.get("url", "")),
            registration_token=str(request.get("registrationToken", "")),
            runner_name=str(request.get("runnerName", "")),
            runner_description=request.get("runnerDescription") or None,
        )
        self.config = RunnerConfig.load(self.paths.config_file)
        self._add_link(registration)
        self.wake()
        return {"url": registration.url, "runnerName": registration.runner_name}

    async def _unregister(self, url: str, runner_name: str) -> dict[str, Any]:
        link = self.links.pop((url.rstrip("/"), runner_name), None)
        if link is not None:
            # Give its jobs back while the token still works.
            await self._stop_jobs(
                [j for j in self.jobs.values() if j.link is link], "Runner unregistered"
            )
            await link.stop()
        await unregister_instance(self.paths.config_file, url=url, runner_name=runner_name)
        self.config = RunnerConfig.load(self.paths.config_file)
        return {}
