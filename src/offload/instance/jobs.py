"""Runner job use cases: enqueue, request, accept, update, abort, error, success, cancel,
delete, and the watchdog's reaping. Decisions come from `offload.domain.jobs`; each state
change is one conditional UPDATE in `offload.store.jobs`."""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import random
import socket
import uuid as uuidlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from offload.domain import tokens
from offload.domain.errors import (
    JobNotCancellable,
    JobNotFound,
    JobNotPending,
    JobNotPendingAnymore,
    JobNotProcessing,
    JobNotProcessingAnymore,
    OutputRefused,
    UnknownRunnerJob,
)
from offload.domain.jobs import (
    ABORTABLE_TYPES,
    CANCELLABLE_STATES,
    FailureDecision,
    Job,
    JobAttempt,
    JobSpec,
    JobState,
    JobType,
    RetryBackoff,
    StallCategory,
    decide_after_failure,
    stall_category,
)
from offload.domain.runners import Runner
from offload.instance.notifier import AvailableJobsNotifier
from offload.instance.results import Commit, CompletionStaging, JobHandler, PostedPayload
from offload.jobs.registry import BUILTIN_KINDS, JobKinds
from offload.store.database import Database, DatabaseUnavailable
from offload.store.dedicated import asyncpg_dsn
from offload.store.jobs import JobListQuery, JobRepository
from offload.store.processes import ProcessLock, ProcessRepository

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection
from offload.store.runners import RunnerRepository

__all__ = [
    "REQUEST_LIMIT",
    "REQUEST_WINDOW",
    "JobService",
    "JobView",
    "check_acceptable",
    "spread_best_tier",
]

log = logging.getLogger(__name__)

ABORT_NOT_SUPPORTED = "Job has been aborted but it is not supported by this job type"
STALLED_MESSAGE = "Stalled runner job"
COMPLETION_LOST = "Job completion was lost"
COMPLETION_INTERRUPTED = "Job completion was interrupted by a server shutdown"
PARENT_ERROR = "Parent error"
#: A completion's final transaction, failed for want of a database, is tried again after
#: these waits (doubling).
COMMIT_RETRY_FIRST_S = 0.5
COMMIT_RETRY_MAX_S = 10.0
#: Attempts one watchdog pass prunes at most (a pass every 30 s forgets ~2.9 M a day).
PRUNE_BATCH = 1000


def _backoff_end(now: datetime, delay_s: float) -> datetime | None:
    return now + timedelta(seconds=delay_s) if delay_s > 0 else None


def check_acceptable(job: Job) -> None:
    """Refuse an accept before trying it: 400 for a job that is not PENDING, except that a job
    another runner holds is a lost race (409), whether it was taken before or during our read.
    The answer to simultaneous accepts thus does not depend on timing (the conditional UPDATE
    gives the same 409)."""
    if job.state is JobState.PROCESSING:
        raise JobNotPendingAnymore()
    if job.state is not JobState.PENDING:
        raise JobNotPending()


#: Jobs one `request` answer lists (PeerTube's limit), and how many are read to spread runners.
REQUEST_LIMIT = 10
REQUEST_WINDOW = 50


def spread_best_tier(jobs: Sequence[Job], rng: random.Random) -> list[Job]:
    """Shuffle the leading run of jobs sharing the best priority; keep the rest in order."""
    if not jobs:
        return []
    best = jobs[0].priority
    tier = [j for j in jobs if j.priority == best]
    rest = [j for j in jobs if j.priority != best]
    rng.shuffle(tier)
    return [*tier, *rest]


@dataclass(frozen=True, slots=True)
class JobView:
    """A job with what the admin list shows next to it."""

    job: Job
    parent: Job | None
    runner: Runner | None


class JobService:
    def __init__(
        self,
        db: Database,
        now: Callable[[], datetime],
        notifier: AvailableJobsNotifier,
        handlers: Mapping[JobType, JobHandler],
        *,
        stalled_thresholds_s: Mapping[str, float],
        stalled_completing_s: float,
        attempt_retention_s: float = 30 * 24 * 3600.0,
        success_wait_s: float = 30.0,
        process_timeout_s: float = 90.0,
        staging_dir: Path,
        retry_backoff: RetryBackoff | None = None,
        rng: random.Random | None = None,
        process_lock_grace_s: float = 10.0,
        kinds: JobKinds = BUILTIN_KINDS,
    ) -> None:
        self.db = db
        self.now = now
        self.notifier = notifier
        self.handlers = dict(handlers)
        #: The job types' payload shapes and processing steps (the local workers read them here).
        self.kinds = kinds
        self.repo = JobRepository()
        self.stalled_thresholds_s = dict(stalled_thresholds_s)
        self.stalled_completing = timedelta(seconds=stalled_completing_s)
        self.success_wait_s = success_wait_s
        #: Attempts of finished jobs that ended longer ago than this are pruned.
        self.attempt_retention = timedelta(seconds=attempt_retention_s)
        #: Where a success's files wait for their completion (same filesystem as the uploads).
        self.staging = CompletionStaging(staging_dir)
        #: This instance process, owner of the completions it runs (`runner_jobs.completing_by`).
        self.process_id = uuidlib.uuid4().hex
        #: A process silent for this long is dead: its completions are redone elsewhere.
        self.process_timeout = timedelta(seconds=process_timeout_s)
        self.processes = ProcessRepository()
        #: PostgreSQL: free liveness locks prove their processes dead only once our own lock
        #: has been held this long (seconds), time for the others to take theirs again after
        #: a database restart.
        self.process_lock_grace_s = process_lock_grace_s
        self._liveness_lock: ProcessLock | None = None
        #: Tells the runner holding a job that the job was taken from it, with a reason
        #: (`cancelled`, `stalled`): set by the app to the Socket.IO push. Best effort: the
        #: runner's next update gets 404 all the same.
        self.on_revoked: Callable[[int, str, str], Awaitable[None]] | None = None
        #: Since this process started: how attempts ended, by outcome, and accepts (metrics).
        self.attempt_outcomes: collections.Counter[str] = collections.Counter()
        self.accepted_total = 0
        self._completions: set[asyncio.Task[None]] = set()
        #: How long a job whose failure counted waits before it is offered again.
        self.retry_backoff = retry_backoff or RetryBackoff()
        #: Shuffles `request` answers and draws the backoff's jitter.
        self._random = rng or random.Random()

    # ---- creation -------------------------------------------------------------------------

    async def enqueue(self, specs: Sequence[JobSpec]) -> list[Job]:
        """Create jobs (a batch may chain on itself through `JobSpec.parent`)."""
        uuids = [str(uuidlib.uuid4()) for _ in specs]
        async with self.db.write() as conn:
            jobs = await self.repo.insert_many(conn, specs, uuids, self.now())
        if any(j.state is JobState.PENDING for j in jobs):
            self.notifier.ping()
        return jobs

    async def enqueue_one(
        self,
        job_type: JobType,
        payload: dict[str, object],
        private_payload: dict[str, object],
        priority: int,
        parent_uuid: str | None = None,
    ) -> Job:
        parent_id = None
        if parent_uuid is not None:
            parent = await self.get(parent_uuid)
            parent_id = parent.id
        [job] = await self.enqueue(
            [JobSpec(job_type, payload, private_payload, priority, parent_id=parent_id)]
        )
        return job

    # ---- reads ----------------------------------------------------------------------------

    async def get(self, job_uuid: str) -> Job:
        async with self.db.read() as conn:
            job = await self.repo.get_by_uuid(conn, job_uuid)
        if job is None:
            raise JobNotFound()
        return job

    async def list_for_admin(self, query: JobListQuery) -> tuple[int, list[JobView]]:
        async with self.db.read() as conn:
            total, jobs = await self.repo.list_for_admin(conn, query)
            parents = await self.repo.get_many_by_id(
                conn, [j.parent_id for j in jobs if j.parent_id]
            )
            runners = await RunnerRepository().get_many(
                conn, [j.runner_id for j in jobs if j.runner_id]
            )
        views = [
            JobView(
                j,
                parents.get(j.parent_id) if j.parent_id else None,
                runners.get(j.runner_id) if j.runner_id else None,
            )
            for j in jobs
        ]
        return total, views

    async def details(self, job_uuid: str) -> tuple[JobView, list[Job], list[JobAttempt]]:
        """A job with its parent, runner, children and attempt history (admin job page)."""
        async with self.db.read() as conn:
            job = await self.repo.get_by_uuid(conn, job_uuid)
            if job is None:
                raise JobNotFound()
            parent = await self.repo.get_by_id(conn, job.parent_id) if job.parent_id else None
            runner = await RunnerRepository().get(conn, job.runner_id) if job.runner_id else None
            children = await self.repo.list_children(conn, job.id)
            attempts = await self.repo.list_attempts(conn, job.id)
        return JobView(job, parent, runner), children, attempts

    async def offered_count(self, limit: int) -> int:
        """How many jobs are on offer to remote runners now (PENDING, not backing off, not
        local), counted up to `limit`: what the `available-jobs` pings are sized by."""
        async with self.db.read() as conn:
            return await self.repo.count_offered(conn, self.now(), limit)

    async def counts_by_state(self) -> dict[JobState, int]:
        async with self.db.read() as conn:
            return await self.repo.counts_by_state(conn)

    # ---- runner calls ---------------------------------------------------------------------

    async def request(self, job_types: Sequence[str] | None) -> list[Job]:
        """Up to 10 PENDING jobs, best priority first.

        PeerTube hands every runner the same list and every runner accepts its first job, so N
        idle runners race for one job and N - 1 lose. Jobs of the best priority are equally
        good, so each answer shuffles them (drawn from a wider window): concurrent runners
        mostly pick different jobs, while priority order between tiers is kept.
        """
        async with self.db.read() as conn:
            window = await self.repo.list_available(
                conn, job_types, self.now(), limit=REQUEST_WINDOW
            )
        return spread_best_tier(window, self._random)[:REQUEST_LIMIT]

    async def accept(self, job: Job, runner: Runner) -> tuple[Job, str]:
        """PENDING → PROCESSING for this runner; returns the job and its one-attempt token.

        `job` is the caller's fresh read: the conditional UPDATE decides the race anyway, so
        reading it again here would only cost a round trip. A job still backing off after a
        failure is refused as a lost race (409, which runners take as "move on"): a runner may
        accept from a list it read before the failure, and the backoff must hold all the same.
        """
        check_acceptable(job)
        async with self.db.write() as conn:
            taken = await self._take(conn, job.id, runner, self.now())
        if taken is None:
            raise JobNotPendingAnymore()
        return taken

    async def claim(
        self,
        runner: Runner,
        job_types: Sequence[str] | None,
        max_jobs: int,
        max_resolution: int | None = None,
    ) -> list[tuple[Job, str]]:
        """Pick and accept up to `max_jobs` of the best PENDING jobs in one transaction: Offload's
        atomic alternative to request + accept, with no race to lose. A runner that declares a
        `max_resolution` gets only jobs producing at most that height (or no picture at all).
        Returns each job with its one-attempt token.

        Most claims of an idle fleet find nothing: a plain read says so first, so that they
        neither queue for SQLite's one writer nor row-lock anything on PostgreSQL."""
        now = self.now()
        async with self.db.read() as conn:
            if not await self.repo.any_claimable(conn, job_types, now, max_resolution):
                return []
        claimed: list[tuple[Job, str]] = []
        async with self.db.write() as conn:
            for job_id in await self.repo.lock_available(
                conn, job_types, max_jobs, now, max_resolution
            ):
                # Under the row lock the conditional UPDATE cannot miss; it says so all the same.
                taken = await self._take(conn, job_id, runner, now)
                if taken is not None:
                    claimed.append(taken)
        return claimed

    async def _take(
        self, conn: AsyncConnection, job_id: int, runner: Runner, now: datetime
    ) -> tuple[Job, str] | None:
        """PENDING → PROCESSING for `runner` with a fresh job token and an open attempt; None
        when the job was no longer pending. Shared by accept and claim."""
        job_token = tokens.new_job_token()
        accepted = await self.repo.accept(conn, job_id, runner.id, tokens.digest(job_token), now)
        if accepted is None:
            return None
        await self.repo.open_attempt(conn, accepted, runner.id, runner.name, now)
        self.accepted_total += 1
        return accepted, job_token

    async def load_runner_job(
        self, job_uuid: str, runner: Runner | None, job_token: str, allowed: Iterable[JobState]
    ) -> Job:
        """PeerTube's job-of-runner check: uuid + job token + runner must all match, then state."""
        async with self.db.read() as conn:
            job = await self.repo.get_by_uuid(conn, job_uuid)
        if (
            job is None
            or runner is None
            or job.runner_id != runner.id
            or not tokens.digests_match(job_token, job.job_token_digest)
        ):
            raise UnknownRunnerJob()
        if job.state not in set(allowed):
            raise JobNotProcessing()
        return job

    async def update(self, job: Job, progress: int | None, update: PostedPayload) -> None:
        """Heartbeat and progress; a late update of a COMPLETING/COMPLETED job is a no-op."""
        try:
            if job.state is not JobState.PROCESSING:
                return
            self.kinds.verify_update(job.type, update.fields, set(update.files))
            async with self.db.write() as conn:
                touched = await self.repo.touch(conn, job, progress, self.now())
            if touched is None:
                return  # the job moved on meanwhile (success, cancel): nothing to record
            if update.fields or update.files:
                await self.handler_for(job).on_update(touched, update)
        finally:
            update.cleanup()

    async def abort(self, job: Job, reason: str) -> None:
        await self._fail_attempt(job, reason, counts=False, outcome="aborted")

    async def error(self, job: Job, message: str) -> None:
        await self._fail_attempt(job, message, counts=True, outcome="errored")

    async def success(self, job: Job, result: PostedPayload) -> None:
        """PROCESSING → COMPLETING now, COMPLETED once the handler accepted the output.

        The answer waits for the completion up to `success_wait_s`; past that the completion
        goes on in the background (a slow verification must not time the runner out). The
        posted files move into the completion's staging dir first: from then on they are the
        completion's, whatever the caller does with its own copies once this returns.
        """
        try:
            self.kinds.verify_success(job.type, result.fields, set(result.files))
        except Exception:
            result.cleanup()
            raise
        async with self.db.write() as conn:
            completing = await self.repo.start_completing(conn, job, self.process_id, self.now())
        if completing is None:
            result.cleanup()
            raise JobNotProcessingAnymore()
        try:
            staged = await asyncio.to_thread(self.staging.adopt, completing, result)
        except OSError as exc:  # the instance's disk, not the runner's output: no retry counted
            log.exception("keeping the output of job %s failed", job.uuid)
            result.cleanup()
            await asyncio.to_thread(self.staging.release, completing)
            await self._fail_completion(
                completing, f"The output could not be kept: {exc}", counts=None, outcome="errored"
            )
            return
        task = asyncio.get_running_loop().create_task(self._finish_completion(completing, staged))
        self._completions.add(task)
        task.add_done_callback(self._completions.discard)
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=self.success_wait_s)
        except TimeoutError:
            log.info(
                "job %s still completing after %.0f s; answering now", job.uuid, self.success_wait_s
            )

    async def _finish_completion(self, job: Job, result: PostedPayload) -> None:
        try:
            try:
                commit = await self.handler_for(job).complete(job, result)
            except OutputRefused as exc:
                # The reason is otherwise only in the attempt history: operators read logs.
                log.warning(
                    "output of job %s (%s) from runner %s refused: %s",
                    job.uuid,
                    job.type.value,
                    await self._runner_label(job),
                    exc.message,
                )
                await self._fail_completion(
                    job, f"Output refused: {exc.message}", counts=True, outcome="refused"
                )
                return
            except Exception as exc:  # PeerTube: post-processing failure errors the job, no retry
                log.exception("completion of job %s failed", job.uuid)
                await self._fail_completion(
                    job, str(exc) or type(exc).__name__, counts=None, outcome="errored"
                )
                return
            if await self._commit_completion(job, commit):
                self.notifier.ping()
        finally:
            # Whatever the handler did not move away, whatever the outcome.
            await asyncio.to_thread(self.staging.release, job)

    async def _runner_label(self, job: Job) -> str:
        """`name (id N)` of the job's runner, for the log; the id alone if it cannot be read."""
        if job.runner_id is None:
            return "(none)"
        try:
            async with self.db.read() as conn:
                runner = await RunnerRepository().get(conn, job.runner_id)
        except DatabaseUnavailable:
            runner = None
        if runner is None:
            return f"id {job.runner_id}"
        return f"{runner.name} (id {runner.id})"

    async def _commit_completion(self, job: Job, commit: Commit | None) -> list[Job]:
        """COMPLETING → COMPLETED with the handler's rows, in one transaction; returns the
        children it promoted.

        The output is in place by now, so a database outage here is waited out (the whole
        transaction is tried again; it rolled back) rather than losing the completion, which
        would leave the job COMPLETING under a living process for `stalled_completing`.
        """
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self.stalled_completing.total_seconds()
        delay_s = COMMIT_RETRY_FIRST_S
        while True:
            try:
                now = self.now()
                async with self.db.write() as conn:
                    completed = await self.repo.complete(conn, job, now)
                    if completed is None:
                        return []  # cancelled or reaped meanwhile
                    if commit is not None:
                        await commit(conn)
                    await self._close_attempt(conn, job, "completed", None, now)
                    return await self.repo.promote_children(conn, job.id, now)
            except DatabaseUnavailable:
                if loop.time() + delay_s > give_up_at:
                    raise
                log.warning(
                    "database unavailable while completing job %s: trying again in %.1f s",
                    job.uuid,
                    delay_s,
                )
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, COMMIT_RETRY_MAX_S)

    async def _fail_attempt(
        self,
        job: Job,
        message: str,
        *,
        counts: bool,
        outcome: str,
        idle_since: datetime | None = None,
    ) -> None:
        """A runner's abort or error on a PROCESSING job (fenced by its token), or the
        watchdog's stall (only if not updated since `idle_since`)."""
        if outcome == "aborted" and job.type not in ABORTABLE_TYPES:
            message = ABORT_NOT_SUPPORTED
        decision = self._decide(job, counts)
        now = self.now()
        async with self.db.write() as conn:
            if decision.requeued:
                changed = await self.repo.requeue(
                    conn,
                    job,
                    JobState.PROCESSING,
                    decision.failures,
                    now,
                    idle_since=idle_since,
                    not_before=_backoff_end(now, decision.retry_after_s),
                )
            else:
                changed = await self.repo.fail(
                    conn,
                    job,
                    JobState.PROCESSING,
                    decision.failures,
                    message,
                    now,
                    idle_since=idle_since,
                )
            if changed is None:
                raise JobNotProcessing()
            await self._close_attempt(conn, job, outcome, message, now)
            descendants = (
                []
                if decision.requeued
                else await self.repo.fail_descendants(
                    conn, job.id, JobState.PARENT_ERRORED, PARENT_ERROR, now
                )
            )
        await self._after_failure(changed, descendants, decision.retry_after_s)

    async def _fail_completion(
        self,
        job: Job,
        message: str,
        *,
        counts: bool | None,
        outcome: str,
        idle_since: datetime | None = None,
    ) -> None:
        """A COMPLETING job whose completion failed; counts=None errors it outright. The
        watchdog's lost completions only if not updated since `idle_since`."""
        if counts is None:
            next_failures, requeue, retry_after_s = job.failures, False, 0.0
        else:
            decision = self._decide(job, counts)
            next_failures, requeue, retry_after_s = (
                decision.failures,
                decision.requeued,
                decision.retry_after_s,
            )
        now = self.now()
        async with self.db.write() as conn:
            if requeue:
                changed = await self.repo.requeue(
                    conn,
                    job,
                    JobState.COMPLETING,
                    next_failures,
                    now,
                    fence_token=False,
                    idle_since=idle_since,
                    not_before=_backoff_end(now, retry_after_s),
                )
            else:
                changed = await self.repo.fail(
                    conn,
                    job,
                    JobState.COMPLETING,
                    next_failures,
                    message,
                    now,
                    fence_token=False,
                    idle_since=idle_since,
                )
            if changed is None:
                return
            await self._close_attempt(conn, job, outcome, message, now)
            descendants = (
                []
                if requeue
                else await self.repo.fail_descendants(
                    conn, job.id, JobState.PARENT_ERRORED, PARENT_ERROR, now
                )
            )
        await self._after_failure(changed, descendants, retry_after_s)

    def _decide(self, job: Job, counts: bool) -> FailureDecision:
        return decide_after_failure(
            job.type,
            job.failures,
            counts=counts,
            backoff=self.retry_backoff,
            draw=self._random.random(),
        )

    async def _after_failure(self, job: Job, descendants: list[Job], retry_after_s: float) -> None:
        if job.state is JobState.PENDING:
            # Runners hear of the job when it is on offer: now, or when its backoff ends.
            if retry_after_s > 0:
                self.notifier.ping_in(retry_after_s)
            else:
                self.notifier.ping()
            return
        for ended in (job, *descendants):
            await self._notify_finished(ended)

    # ---- admin ----------------------------------------------------------------------------

    async def cancel(self, job_uuid: str) -> Job:
        """PENDING/PROCESSING/WAITING → CANCELLED, with its descendants.

        No read comes first: what happens next depends on the row the UPDATE cancelled, so a
        job accepted or re-queued meanwhile is handled as what it had become. Only a PROCESSING
        job has an open attempt, hence closing "the open attempt of this row" is exact.
        """
        now = self.now()
        async with self.db.write() as conn:
            cancelled = await self.repo.cancel(conn, job_uuid, CANCELLABLE_STATES, now)
            if cancelled is None:
                raise (
                    JobNotFound()
                    if await self.repo.get_by_uuid(conn, job_uuid) is None
                    else JobNotCancellable()
                )
            await self._close_attempt(
                conn, cancelled, "cancelled", "Cancelled by an administrator", now
            )
            descendants = await self.repo.fail_descendants(
                conn, cancelled.id, JobState.PARENT_CANCELLED, None, now
            )
        # Its runner, if it was PROCESSING on one (the UPDATE keeps `runner_id`), may stop at once.
        await self._revoke(cancelled, "cancelled")
        for ended in (cancelled, *descendants):
            await self._notify_finished(ended)
        return cancelled

    async def delete(self, job_uuid: str) -> None:
        job = await self.get(job_uuid)
        if job.state in CANCELLABLE_STATES:
            try:
                await self.cancel(job_uuid)
            except JobNotCancellable:
                pass  # it ended meanwhile; delete it all the same
        async with self.db.write() as conn:
            await self.repo.delete(conn, job.id)

    # ---- watchdog -------------------------------------------------------------------------

    async def reap(self) -> int:
        """Re-queue stalled PROCESSING jobs and redo orphaned or lost completions; returns how
        many moved. Also this process's heartbeat."""
        await self.heartbeat()
        now = self.now()
        moved = 0
        by_category: dict[str, list[str]] = {}
        for job_type in JobType:
            by_category.setdefault(str(stall_category(job_type)), []).append(str(job_type))
        for category, types in by_category.items():
            threshold = self.stalled_thresholds_s.get(
                category, self.stalled_thresholds_s[StallCategory.VOD]
            )
            cutoff = now - timedelta(seconds=threshold)
            async with self.db.read() as conn:
                stalled = await self.repo.list_stalled(conn, types, cutoff)
            for job in stalled:
                try:
                    # The cutoff goes into the write: a heartbeat since the read keeps the job.
                    await self._fail_attempt(
                        job, STALLED_MESSAGE, counts=False, outcome="stalled", idle_since=cutoff
                    )
                    moved += 1
                except JobNotProcessing:
                    continue  # updated, finished or re-queued since we looked
                await self._revoke(job, "stalled")  # a runner that is only slow must stop too
        moved += await self.recover_orphaned_completions()
        # A completion whose process is alive but which has not ended for hours is stuck.
        completing_cutoff = now - self.stalled_completing
        async with self.db.read() as conn:
            lost = await self.repo.list_in_state(
                conn, JobState.COMPLETING, updated_before=completing_cutoff
            )
        for job in lost:
            await self._fail_completion(
                job, COMPLETION_LOST, counts=True, outcome="lost", idle_since=completing_cutoff
            )
            moved += 1
        await self.prune_attempts()
        return moved

    async def prune_attempts(self) -> int:
        """Forget attempts of finished jobs past the retention, one bounded batch per watchdog
        pass: a short write, however much history has piled up."""
        async with self.db.write() as conn:
            return await self.repo.prune_attempts(
                conn, self.now() - self.attempt_retention, PRUNE_BATCH
            )

    # ---- instance processes ---------------------------------------------------------------

    async def register_process(self) -> None:
        """Announce this process (start-up); its heartbeat then comes with each watchdog pass.
        On PostgreSQL its liveness lock is taken first: a registered process without its lock
        would look dead."""
        if not self.db.is_sqlite:
            self._liveness_lock = ProcessLock(asyncpg_dsn(self.db.url), self.process_id)
            await self._liveness_lock.start()
        async with self.db.write() as conn:
            await self.processes.register(
                conn, self.process_id, socket.gethostname(), os.getpid(), self.now()
            )

    async def heartbeat(self) -> None:
        async with self.db.write() as conn:
            if not await self.processes.heartbeat(conn, self.process_id, self.now()):
                # Silent for too long (a stalled event loop): others may have redone our
                # completions, whose final UPDATEs are fenced and will simply not apply.
                log.warning("this instance process was presumed dead; registering again")
                await self.processes.register(
                    conn, self.process_id, socket.gethostname(), os.getpid(), self.now()
                )

    async def unregister_process(self) -> None:
        """Say goodbye (clean shutdown): completions this process left are anybody's now."""
        try:
            async with self.db.write() as conn:
                await self.processes.forget(conn, self.process_id)
        finally:
            if self._liveness_lock is not None:
                await self._liveness_lock.close()

    async def recover_orphaned_completions(self) -> int:
        """Redo completions whose process is gone (abort path, not counted as a failure).

        At start-up this covers a stop or crash of this same instance. A SQLite file has one
        process, so any completion that is not this process's own is orphaned. On PostgreSQL,
        with several processes, a process is dead once its liveness lock is free (it died with
        its connection), or, failing that proof, once it has been silent for `process_timeout`.
        A free lock is believed only when our own has been held for the grace period: just
        after a database restart, the others may not have taken theirs again yet.
        """
        now = self.now()
        async with self.db.write() as conn:
            await self.processes.forget_silent(conn, now - self.process_timeout)
            live = {self.process_id}
            if not self.db.is_sqlite:
                live |= await self.processes.live_ids(conn, now - self.process_timeout)
                lock = self._liveness_lock
                if lock is not None and lock.held_for_s >= self.process_lock_grace_s:
                    dead = (
                        live
                        - await self.processes.holding_liveness_lock(conn, live)
                        - {self.process_id}
                    )
                    if dead:
                        log.warning(
                            "instance process(es) %s died (liveness lock released)",
                            ", ".join(sorted(dead)),
                        )
                        await self.processes.forget(conn, *dead)
                    live -= dead
            orphaned = await self.repo.list_orphaned_completions(conn, live)
        staged = self.staging.listed()  # before the states are read again: see `sweep`
        for job in orphaned:
            await self._fail_completion(
                job, COMPLETION_INTERRUPTED, counts=False, outcome="interrupted"
            )
        await self._sweep_staging(staged)
        return len(orphaned)

    async def _sweep_staging(self, staged: set[str]) -> None:
        """Remove the staging dirs of completions that no longer run (interrupted, given up
        for lost, or ended by a crash before they cleaned up)."""
        if not staged:
            return
        async with self.db.read() as conn:
            completing = await self.repo.list_in_state(conn, JobState.COMPLETING)
        await asyncio.to_thread(self.staging.sweep, staged, completing)

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Let background completions finish (shutdown)."""
        pending = [t for t in self._completions if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)

    # ---- helpers --------------------------------------------------------------------------

    def handler_for(self, job: Job) -> JobHandler:
        return self.handlers[job.type]

    async def _close_attempt(
        self, conn: AsyncConnection, job: Job, outcome: str, message: str | None, now: datetime
    ) -> None:
        if await self.repo.close_attempt(conn, job, outcome, message, now):
            self.attempt_outcomes[outcome] += 1

    async def _revoke(self, job: Job, reason: str) -> None:
        if self.on_revoked is None or job.runner_id is None:
            return
        try:
            await self.on_revoked(job.runner_id, job.uuid, reason)
        except Exception:  # a lost push costs the runner one update interval, nothing more
            log.exception("telling the runner of job %s that it was %s failed", job.uuid, reason)

    async def _notify_finished(self, job: Job) -> None:
        try:
            await self.handler_for(job).on_finished(job)
        except Exception:  # side effects must not undo a state change already committed
            log.exception("handler of job %s failed on finish", job.uuid)
