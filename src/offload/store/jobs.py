"""Runner job queries. Every state change is one conditional UPDATE whose WHERE clause names
the state it expects (and, for runner calls, the attempt's token digest): 0 rows means another
actor won, and the caller turns that into a domain error."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from offload.domain.jobs import (
    TERMINAL_STATES,
    Job,
    JobAttempt,
    JobSpec,
    JobState,
    JobType,
    output_resolution,
)
from offload.store.tables import job_attempts, runner_jobs, runners, video_jobs

__all__ = ["JobListQuery", "JobRepository", "on_offer", "row_to_job"]

_j = runner_jobs

# Jobs the instance processes itself (remote runners off when they were created) are never
# offered to, nor accepted by, remote runners: PeerTube keeps those in its local queue.
_REMOTE = ~sa.exists().where(video_jobs.c.job_id == _j.c.id, video_jobs.c.local.is_(True))


def on_offer(now: datetime) -> Any:
    """A PENDING job is on offer unless it is still backing off after a failure."""
    return sa.or_(_j.c.not_before.is_(None), _j.c.not_before <= now)


def _claimable(types: Sequence[str] | None, now: datetime, max_resolution: int | None) -> list[Any]:
    """The WHERE of a claim: PENDING, on offer to remote runners, of `types`, producing at
    most `max_resolution` (or no picture at all)."""
    where = [_j.c.state == int(JobState.PENDING), on_offer(now), _REMOTE]
    if types is not None:
        where.append(_j.c.type.in_(list(types)))
    if max_resolution is not None:
        where.append(sa.or_(_j.c.resolution.is_(None), _j.c.resolution <= max_resolution))
    return where


def row_to_job(row: Any) -> Job:
    m = row._mapping
    return Job(
        id=m["id"],
        uuid=m["uuid"],
        type=JobType(m["type"]),
        state=JobState(m["state"]),
        priority=m["priority"],
        failures=m["failures"],
        progress=m["progress"],
        error=m["error"],
        payload=m["payload"],
        private_payload=m["private_payload"],
        runner_id=m["runner_id"],
        parent_id=m["parent_id"],
        attempt=m["attempt"],
        job_token_digest=m["job_token_digest"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        not_before=m["not_before"],
    )


@dataclass(frozen=True, slots=True)
class JobListQuery:
    start: int = 0
    count: int = 15
    sort: str = "-createdAt"
    search: str | None = None
    search_is_uuid: bool = False
    states: Sequence[int] | None = None
    types: Sequence[str] | None = None


_SORT_COLUMNS = {
    "createdAt": _j.c.created_at,
    "updatedAt": _j.c.updated_at,
    "priority": _j.c.priority,
    "state": _j.c.state,
    "progress": _j.c.progress,
}


class JobRepository:
    """Queries on `runner_jobs` and `job_attempts`; each takes the connection to run on."""

    # ---- creation -------------------------------------------------------------------------

    async def insert_many(
        self, conn: AsyncConnection, specs: Sequence[JobSpec], uuids: Sequence[str], now: datetime
    ) -> list[Job]:
        """Insert a batch of jobs; `spec.parent` indexes into the same batch."""
        created: list[Job] = []
        for spec, job_uuid in zip(specs, uuids, strict=True):
            parent_id = spec.parent_id
            if spec.parent is not None:
                parent_id = created[spec.parent].id
            state = JobState.WAITING_FOR_PARENT_JOB if parent_id is not None else JobState.PENDING
            row = (
                await conn.execute(
                    sa.insert(_j)
                    .values(
                        uuid=job_uuid,
                        type=str(spec.type),
                        state=int(state),
                        priority=spec.priority,
                        failures=0,
                        payload=spec.payload,
                        private_payload=spec.private_payload,
                        resolution=output_resolution(spec.payload),
                        parent_id=parent_id,
                        attempt=0,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(*_j.c)
                )
            ).one()
            created.append(row_to_job(row))
        return created

    # ---- reads ----------------------------------------------------------------------------

    async def get_by_uuid(self, conn: AsyncConnection, job_uuid: str) -> Job | None:
        # Stored lower-case (uuid4 strings); PeerTube on PostgreSQL matches any case.
        row = (await conn.execute(sa.select(_j).where(_j.c.uuid == job_uuid.lower()))).first()
        return row_to_job(row) if row else None

    async def get_by_id(self, conn: AsyncConnection, job_id: int) -> Job | None:
        row = (await conn.execute(sa.select(_j).where(_j.c.id == job_id))).first()
        return row_to_job(row) if row else None

    async def get_many_by_id(self, conn: AsyncConnection, ids: Iterable[int]) -> dict[int, Job]:
        ids = list(set(ids))
        if not ids:
            return {}
        rows = (await conn.execute(sa.select(_j).where(_j.c.id.in_(ids)))).all()
        return {r.id: row_to_job(r) for r in rows}

    async def list_available(
        self, conn: AsyncConnection, types: Sequence[str] | None, now: datetime, limit: int = 10
    ) -> list[Job]:
        query = sa.select(_j).where(_j.c.state == int(JobState.PENDING), on_offer(now), _REMOTE)
        if types is not None:
            # An empty list matches nothing, as PeerTube's empty SQL IN list does.
            query = query.where(_j.c.type.in_(list(types)))
        query = query.order_by(_j.c.priority.asc(), _j.c.id.asc()).limit(limit)
        return [row_to_job(r) for r in (await conn.execute(query)).all()]

    async def count_offered(self, conn: AsyncConnection, now: datetime, limit: int) -> int:
        """PENDING jobs on offer to remote runners, counted up to `limit` (a bounded scan)."""
        offered = (
            sa.select(_j.c.id)
            .where(_j.c.state == int(JobState.PENDING), on_offer(now), _REMOTE)
            .limit(max(0, limit))
            .subquery()
        )
        return int(
            (await conn.execute(sa.select(sa.func.count()).select_from(offered))).scalar_one()
        )

    async def lock_available(
        self,
        conn: AsyncConnection,
        types: Sequence[str] | None,
        limit: int,
        now: datetime,
        max_resolution: int | None = None,
    ) -> list[int]:
        """Ids of the best PENDING jobs on offer to remote runners (producing at most
        `max_resolution`, when given), locked for this transaction.

        On PostgreSQL, `FOR UPDATE SKIP LOCKED` lets concurrent claims take different jobs
        instead of queueing on the same rows; SQLite needs no lock (one writer at a time).
        """
        query = sa.select(_j.c.id).where(*_claimable(types, now, max_resolution))
        query = (
            query.order_by(_j.c.priority.asc(), _j.c.id.asc())
            .limit(limit)
            .with_for_update(skip_locked=True, of=_j)
        )
        return [row.id for row in (await conn.execute(query)).all()]

    async def any_claimable(
        self,
        conn: AsyncConnection,
        types: Sequence[str] | None,
        now: datetime,
        max_resolution: int | None = None,
    ) -> bool:
        """Whether `lock_available` would find a job, by a plain read that locks nothing."""
        query = sa.select(_j.c.id).where(*_claimable(types, now, max_resolution)).limit(1)
        return (await conn.execute(query)).first() is not None

    async def list_children(self, conn: AsyncConnection, parent_id: int) -> list[Job]:
        rows = (
            await conn.execute(sa.select(_j).where(_j.c.parent_id == parent_id).order_by(_j.c.id))
        ).all()
        return [row_to_job(r) for r in rows]

    async def list_for_admin(self, conn: AsyncConnection, q: JobListQuery) -> tuple[int, list[Job]]:
        base = sa.select(_j).select_from(_j.outerjoin(runners, runners.c.id == _j.c.runner_id))
        conditions = []
        if q.search:
            if q.search_is_uuid:
                conditions.append(_j.c.uuid == q.search.lower())
            else:
                pattern = f"%{_escape_like(q.search.lower())}%"
                conditions.append(
                    sa.or_(
                        sa.func.lower(_j.c.type).like(pattern, escape="\\"),
                        sa.func.lower(runners.c.name).like(pattern, escape="\\"),
                    )
                )
        if q.states is not None:
            conditions.append(_j.c.state.in_(list(q.states)))
        if q.types is not None:
            conditions.append(_j.c.type.in_(list(q.types)))
        if conditions:
            base = base.where(*conditions)
        total = (
            await conn.execute(sa.select(sa.func.count()).select_from(base.subquery()))
        ).scalar_one()
        descending = q.sort.startswith("-")
        column = _SORT_COLUMNS[q.sort.lstrip("-")]
        order = column.desc() if descending else column.asc()
        tie = _j.c.id.desc() if descending else _j.c.id.asc()
        rows = (await conn.execute(base.order_by(order, tie).offset(q.start).limit(q.count))).all()
        return total, [row_to_job(r) for r in rows]

    async def list_stalled(
        self, conn: AsyncConnection, job_types: Sequence[str], older_than: datetime
    ) -> list[Job]:
        rows = (
            await conn.execute(
                sa.select(_j).where(
                    _j.c.state == int(JobState.PROCESSING),
                    _j.c.type.in_(list(job_types)),
                    _j.c.updated_at < older_than,
                )
            )
        ).all()
        return [row_to_job(r) for r in rows]

    async def list_in_state(
        self, conn: AsyncConnection, state: JobState, updated_before: datetime | None = None
    ) -> list[Job]:
        query = sa.select(_j).where(_j.c.state == int(state))
        if updated_before is not None:
            query = query.where(_j.c.updated_at < updated_before)
        return [row_to_job(r) for r in (await conn.execute(query)).all()]

    async def list_orphaned_completions(
        self, conn: AsyncConnection, live_processes: Iterable[str]
    ) -> list[Job]:
        """COMPLETING jobs whose completing process is not among `live_processes`."""
        owner = _j.c.completing_by
        query = sa.select(_j).where(
            _j.c.state == int(JobState.COMPLETING),
            sa.or_(owner.is_(None), owner.not_in(list(live_processes))),
        )
        return [row_to_job(r) for r in (await conn.execute(query)).all()]

    async def counts_by_state(self, conn: AsyncConnection) -> dict[JobState, int]:
        rows = (
            await conn.execute(sa.select(_j.c.state, sa.func.count()).group_by(_j.c.state))
        ).all()
        return {JobState(state): n for state, n in rows}

    # ---- transitions (one conditional UPDATE each) -----------------------------------------

    async def _update(
        self, conn: AsyncConnection, where: list[Any], values: dict[str, Any]
    ) -> Job | None:
        row = (
            await conn.execute(sa.update(_j).where(*where).values(**values).returning(*_j.c))
        ).first()
        return row_to_job(row) if row else None

    async def accept(
        self,
        conn: AsyncConnection,
        job_id: int,
        runner_id: int | None,
        token_digest: str,
        now: datetime,
        *,
        local: bool = False,
    ) -> Job | None:
        """PENDING → PROCESSING, for one runner (or a local worker), with a fresh job token and
        attempt number. A job still backing off is not taken: it is not on offer yet."""
        return await self._update(
            conn,
            [
                _j.c.id == job_id,
                _j.c.state == int(JobState.PENDING),
                on_offer(now),
                *([] if local else [_REMOTE]),
            ],
            dict(
                state=int(JobState.PROCESSING),
                not_before=None,
                job_token_digest=token_digest,
                runner_id=runner_id,
                started_at=now,
                updated_at=now,
                progress=None,
                attempt=_j.c.attempt + 1,
            ),
        )

    async def touch(
        self, conn: AsyncConnection, job: Job, progress: int | None, now: datetime
    ) -> Job | None:
        """Heartbeat of a PROCESSING job: bump `updated_at`, store a truthy progress."""
        values: dict[str, Any] = {"updated_at": now}
        if progress:
            values["progress"] = progress
        return await self._update(conn, self._lease(job, JobState.PROCESSING), values)

    async def requeue(
        self,
        conn: AsyncConnection,
        job: Job,
        expected: JobState,
        failures: int,
        now: datetime,
        *,
        fence_token: bool = True,
        idle_since: datetime | None = None,
        not_before: datetime | None = None,
    ) -> Job | None:
        """PROCESSING/COMPLETING → PENDING: the lease is dropped and the job is offered again,
        from `not_before` on when it backs off.

        `idle_since`, for the watchdog: only if the job has not been updated since then.
        """
        return await self._update(
            conn,
            self._failing(job, expected, fence_token, idle_since),
            dict(
                state=int(JobState.PENDING),
                job_token_digest=None,
                runner_id=None,
                started_at=None,
                progress=None,
                failures=failures,
                completing_by=None,
                not_before=not_before,
                updated_at=now,
            ),
        )

    async def fail(
        self,
        conn: AsyncConnection,
        job: Job,
        expected: JobState,
        failures: int,
        message: str,
        now: datetime,
        *,
        fence_token: bool = True,
        idle_since: datetime | None = None,
    ) -> Job | None:
        """PROCESSING/COMPLETING → ERRORED, for good (`idle_since` as for `requeue`)."""
        return await self._update(
            conn,
            self._failing(job, expected, fence_token, idle_since),
            dict(
                state=int(JobState.ERRORED),
                job_token_digest=None,
                progress=None,
                failures=failures,
                error=message[:5000],
                completing_by=None,
                finished_at=now,
                updated_at=now,
            ),
        )

    async def start_completing(
        self, conn: AsyncConnection, job: Job, process_id: str, now: datetime
    ) -> Job | None:
        """PROCESSING → COMPLETING when a runner posts success, owned by the instance process
        `process_id` that runs the completion; the token stays valid."""
        return await self._update(
            conn,
            self._lease(job, JobState.PROCESSING),
            dict(
                state=int(JobState.COMPLETING),
                progress=None,
                completing_by=process_id,
                updated_at=now,
            ),
        )

    async def complete(self, conn: AsyncConnection, job: Job, now: datetime) -> Job | None:
        """COMPLETING → COMPLETED for the attempt that started completing."""
        return await self._update(
            conn,
            [
                _j.c.id == job.id,
                _j.c.state == int(JobState.COMPLETING),
                _j.c.attempt == job.attempt,
            ],
            dict(
                state=int(JobState.COMPLETED),
                progress=None,
                completing_by=None,
                finished_at=now,
                updated_at=now,
            ),
        )

    async def cancel(
        self, conn: AsyncConnection, job_uuid: str, cancellable: Iterable[JobState], now: datetime
    ) -> Job | None:
        """→ CANCELLED from any of the `cancellable` states; `runner_id` and `attempt` stay, so
        the caller knows whose attempt it ended."""
        return await self._update(
            conn,
            [_j.c.uuid == job_uuid.lower(), _j.c.state.in_([int(s) for s in cancellable])],
            dict(
                state=int(JobState.CANCELLED),
                job_token_digest=None,
                progress=None,
                finished_at=now,
                updated_at=now,
            ),
        )

    async def promote_children(
        self, conn: AsyncConnection, parent_id: int, now: datetime
    ) -> list[Job]:
        """WAITING children of a finished job → PENDING (PeerTube promotes every child; we do not)."""
        rows = (
            await conn.execute(
                sa.update(_j)
                .where(
                    _j.c.parent_id == parent_id, _j.c.state == int(JobState.WAITING_FOR_PARENT_JOB)
                )
                .values(state=int(JobState.PENDING), updated_at=now)
                .returning(*_j.c)
            )
        ).all()
        return [row_to_job(r) for r in rows]

    async def fail_descendants(
        self,
        conn: AsyncConnection,
        parent_id: int,
        state: JobState,
        message: str | None,
        now: datetime,
    ) -> list[Job]:
        """Every WAITING descendant of a job → PARENT_ERRORED / PARENT_CANCELLED."""
        changed: list[Job] = []
        frontier = [parent_id]
        while frontier:
            rows = (
                await conn.execute(
                    sa.update(_j)
                    .where(
                        _j.c.parent_id.in_(frontier),
                        _j.c.state == int(JobState.WAITING_FOR_PARENT_JOB),
                    )
                    .values(
                        state=int(state),
                        error=message,
                        job_token_digest=None,
                        finished_at=now,
                        updated_at=now,
                    )
                    .returning(*_j.c)
                )
            ).all()
            jobs = [row_to_job(r) for r in rows]
            changed.extend(jobs)
            frontier = [j.id for j in jobs]
        return changed

    async def delete(self, conn: AsyncConnection, job_id: int) -> bool:
        result = await conn.execute(sa.delete(_j).where(_j.c.id == job_id))
        return result.rowcount > 0

    @classmethod
    def _failing(
        cls, job: Job, expected: JobState, fence_token: bool, idle_since: datetime | None
    ) -> list[Any]:
        """The WHERE of a failure: the attempt that failed, still in `expected`. A completion
        failing is fenced by the attempt number (its runner's token is done with). The watchdog
        adds its cutoff: a heartbeat after its read makes the job no longer stalled."""
        where = (
            cls._lease(job, expected)
            if fence_token
            else [_j.c.id == job.id, _j.c.state == int(expected), _j.c.attempt == job.attempt]
        )
        if idle_since is not None:
            where.append(_j.c.updated_at < idle_since)
        return where

    @staticmethod
    def _lease(job: Job, state: JobState) -> list[Any]:
        # The token digest fences the attempt: a runner whose job was re-queued and accepted
        # elsewhere holds a dead token and changes nothing.
        return [
            _j.c.id == job.id,
            _j.c.state == int(state),
            _j.c.job_token_digest == job.job_token_digest,
        ]

    # ---- attempt history ------------------------------------------------------------------

    async def open_attempt(
        self,
        conn: AsyncConnection,
        job: Job,
        runner_id: int | None,
        runner_name: str | None,
        now: datetime,
    ) -> None:
        await conn.execute(
            sa.insert(job_attempts).values(
                job_id=job.id,
                attempt=job.attempt,
                runner_id=runner_id,
                runner_name=runner_name,
                started_at=now,
            )
        )

    async def close_attempt(
        self, conn: AsyncConnection, job: Job, outcome: str, message: str | None, now: datetime
    ) -> bool:
        """End the job's current attempt if it is still open; False when there was none."""
        result = await conn.execute(
            sa.update(job_attempts)
            .where(
                job_attempts.c.job_id == job.id,
                job_attempts.c.attempt == job.attempt,
                job_attempts.c.ended_at.is_(None),
            )
            .values(ended_at=now, outcome=outcome, message=message[:5000] if message else None)
        )
        return result.rowcount > 0

    async def prune_attempts(
        self, conn: AsyncConnection, ended_before: datetime, limit: int
    ) -> int:
        """Delete up to `limit` attempts of finished jobs that ended before `ended_before`,
        oldest first; returns how many went."""
        a = job_attempts
        finished = sa.exists().where(
            _j.c.id == a.c.job_id, _j.c.state.in_([int(s) for s in TERMINAL_STATES])
        )
        batch = (
            sa.select(a.c.id)
            .where(a.c.ended_at < ended_before, finished)
            .order_by(a.c.ended_at)
            .limit(limit)
        )
        result = await conn.execute(sa.delete(a).where(a.c.id.in_(batch.scalar_subquery())))
        return result.rowcount

    async def list_attempts(self, conn: AsyncConnection, job_id: int) -> list[JobAttempt]:
        columns = [getattr(job_attempts.c, name) for name in JobAttempt.__slots__]
        rows = (
            await conn.execute(
                sa.select(*columns)
                .where(job_attempts.c.job_id == job_id)
                .order_by(job_attempts.c.attempt)
            )
        ).all()
        return [JobAttempt(**r._mapping) for r in rows]


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
