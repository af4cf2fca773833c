"""Queries on videos, their files, their jobs, resumable uploads and files awaiting deletion.

Every method takes the connection to run on, so callers group statements in one transaction
(an upload's video + file + jobs; a completion's files + video state with COMPLETED).
"""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from offload.domain.jobs import JobState
from offload.domain.videos import Video, VideoFile, VideoId, VideoState
from offload.store.jobs import on_offer, row_to_job
from offload.store.tables import (
    UTCDateTime,
    media_garbage,
    runner_jobs,
    users,
    video_captions,
    video_files,
    video_jobs,
    video_storyboards,
    video_uploads,
    videos,
)

__all__ = ["VideoRepository", "row_to_video", "row_to_video_file"]

_SORTS = {"createdAt": videos.c.created_at, "name": videos.c.name, "duration": videos.c.duration_s}


def row_to_video(row: Any) -> Video:
    m = row._mapping
    return Video(
        id=m["id"],
        uuid=m["uuid"],
        name=m["name"],
        state=VideoState(m["state"]),
        duration_s=m["duration_s"],
        has_video=m["has_video"],
        has_audio=m["has_audio"],
        input_resolution=m["input_resolution"],
        input_fps=m["input_fps"],
        preview_filename=m["preview_filename"],
        error=m["error"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        published_at=m["published_at"],
        owner_id=m.get("account_id"),
        owner_name=m.get("account_name"),
        generation=m["generation"],
    )


def _with_owner() -> sa.Select[Any]:
    """Videos with their account: the uploader's, or root's once the uploader is gone (every
    PeerTube video has a channel and an account)."""
    root = sa.select(users.c.id).where(users.c.username == "root").scalar_subquery()
    account = sa.func.coalesce(videos.c.owner_id, root)
    return sa.select(
        videos, users.c.id.label("account_id"), users.c.username.label("account_name")
    ).select_from(videos.outerjoin(users, users.c.id == account))


def row_to_video_file(row: Any) -> VideoFile:
    m = row._mapping
    return VideoFile(**{f.name: m[f.name] for f in dataclasses.fields(VideoFile)})


class VideoRepository:
    # ---- videos ---------------------------------------------------------------------------

    async def insert_video(self, conn: AsyncConnection, values: dict[str, Any]) -> Video:
        row = (await conn.execute(sa.insert(videos).values(**values).returning(*videos.c))).one()
        return row_to_video(row)

    async def count_uploaded_since(
        self, conn: AsyncConnection, owner_id: int, since: datetime
    ) -> int:
        """Videos `owner_id` uploaded at or after `since` (served by ix_videos_owner_created_at)."""
        query = sa.select(sa.func.count()).where(
            videos.c.owner_id == owner_id, videos.c.created_at >= since
        )
        return int((await conn.execute(query)).scalar_one())

    async def quota_used(
        self, conn: AsyncConnection, owner_id: int, since: datetime | None = None
    ) -> int:
        """Bytes `owner_id`'s videos (made after `since`) count against their quota.

        As PeerTube's `getUserQuota`: each video weighs its largest file, web or HLS.
        """
        largest = (
            sa.select(sa.func.max(video_files.c.size).label("size"))
            .select_from(video_files.join(videos, videos.c.id == video_files.c.video_id))
            .where(videos.c.owner_id == owner_id)
            .group_by(videos.c.id)
        )
        if since is not None:
            largest = largest.where(videos.c.created_at > since)
        per_video = largest.subquery()
        return int(
            (
                await conn.execute(sa.select(sa.func.coalesce(sa.func.sum(per_video.c.size), 0)))
            ).scalar_one()
        )

    async def get(self, conn: AsyncConnection, ident: VideoId) -> Video | None:
        where = videos.c.id == ident.id if ident.id is not None else videos.c.uuid == ident.uuid
        row = (await conn.execute(_with_owner().where(where))).first()
        return row_to_video(row) if row else None

    async def get_by_uuid(self, conn: AsyncConnection, video_uuid: str) -> Video | None:
        return await self.get(conn, VideoId(uuid=video_uuid))

    async def lock(self, conn: AsyncConnection, video_id: int) -> Video | None:
        """Read the video and hold its row until the transaction ends.

        Completions of one video serialise on this lock (PostgreSQL), so the second one sees the
        first one's files and job states once it gets the row. SQLite already has one writer.
        """
        query = sa.select(videos).where(videos.c.id == video_id)
        if conn.dialect.name != "sqlite":
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        return row_to_video(row) if row else None

    async def list(
        self, conn: AsyncConnection, start: int, count: int, sort: str
    ) -> tuple[int, list[Video]]:
        total = (await conn.execute(sa.select(sa.func.count()).select_from(videos))).scalar_one()
        column = _SORTS[sort.lstrip("-")]
        order = (
            (column.desc(), videos.c.id.desc())
            if sort.startswith("-")
            else (column.asc(), videos.c.id.asc())
        )
        rows = (await conn.execute(_with_owner().order_by(*order).offset(start).limit(count))).all()
        return total, [row_to_video(r) for r in rows]

    async def set_state(
        self,
        conn: AsyncConnection,
        video_id: int,
        expected: VideoState,
        state: VideoState,
        now: datetime,
        *,
        error: str | None = None,
    ) -> bool:
        """One conditional UPDATE: the state moves only from what the caller decided from."""
        values: dict[str, Any] = {"state": int(state), "updated_at": now}
        if state is VideoState.PUBLISHED:
            # A video published before keeps its date when an edit republishes it.
            values["published_at"] = sa.func.coalesce(
                videos.c.published_at, sa.literal(now, type_=UTCDateTime())
            )
        if error is not None:
            values["error"] = error[:5000]
        result = await conn.execute(
            sa.update(videos)
            .where(videos.c.id == video_id, videos.c.state == int(expected))
            .values(**values)
        )
        return result.rowcount > 0

    async def rename(self, conn: AsyncConnection, ident: VideoId, name: str, now: datetime) -> bool:
        where = videos.c.id == ident.id if ident.id is not None else videos.c.uuid == ident.uuid
        result = await conn.execute(
            sa.update(videos).where(where).values(name=name, updated_at=now)
        )
        return result.rowcount > 0

    async def set_generation(self, conn: AsyncConnection, video_id: int, generation: int) -> None:
        await conn.execute(
            sa.update(videos).where(videos.c.id == video_id).values(generation=generation)
        )

    async def set_duration(self, conn: AsyncConnection, video_id: int, duration_s: float) -> None:
        await conn.execute(
            sa.update(videos).where(videos.c.id == video_id).values(duration_s=duration_s)
        )

    async def delete_video(self, conn: AsyncConnection, video_id: int) -> bool:
        result = await conn.execute(sa.delete(videos).where(videos.c.id == video_id))
        return result.rowcount > 0

    # ---- files ----------------------------------------------------------------------------

    async def insert_file(self, conn: AsyncConnection, values: dict[str, Any]) -> VideoFile:
        row = (
            await conn.execute(sa.insert(video_files).values(**values).returning(*video_files.c))
        ).one()
        return row_to_video_file(row)

    async def list_files(self, conn: AsyncConnection, video_id: int) -> builtins.list[VideoFile]:
        rows = (
            await conn.execute(
                sa.select(video_files)
                .where(video_files.c.video_id == video_id)
                .order_by(video_files.c.id)
            )
        ).all()
        return [row_to_video_file(r) for r in rows]

    async def list_files_of(
        self, conn: AsyncConnection, video_ids: Sequence[int]
    ) -> dict[int, builtins.list[VideoFile]]:
        if not video_ids:
            return {}
        rows = (
            await conn.execute(
                sa.select(video_files)
                .where(video_files.c.video_id.in_(list(video_ids)))
                .order_by(video_files.c.id)
            )
        ).all()
        files: dict[int, list[VideoFile]] = {}
        for r in rows:
            files.setdefault(r.video_id, []).append(row_to_video_file(r))
        return files

    async def delete_files(
        self, conn: AsyncConnection, file_ids: Iterable[int]
    ) -> builtins.list[VideoFile]:
        ids = list(set(file_ids))
        if not ids:
            return []
        rows = (
            await conn.execute(
                sa.delete(video_files).where(video_files.c.id.in_(ids)).returning(*video_files.c)
            )
        ).all()
        return [row_to_video_file(r) for r in rows]

    async def referenced_filenames(self, conn: AsyncConnection, names: Iterable[str]) -> set[str]:
        listed = list(set(names))
        if not listed:
            return set()
        rows = (
            await conn.execute(
                sa.select(video_files.c.filename, video_files.c.playlist_filename).where(
                    sa.or_(
                        video_files.c.filename.in_(listed),
                        video_files.c.playlist_filename.in_(listed),
                    )
                )
            )
        ).all()
        previews = (
            await conn.execute(
                sa.select(videos.c.preview_filename).where(videos.c.preview_filename.in_(listed))
            )
        ).all()
        storyboards = (
            await conn.execute(
                sa.select(video_storyboards.c.filename).where(
                    video_storyboards.c.filename.in_(listed)
                )
            )
        ).scalars()
        captions = (
            await conn.execute(
                sa.select(video_captions.c.filename).where(video_captions.c.filename.in_(listed))
            )
        ).scalars()
        return (
            {n for r in rows for n in (r.filename, r.playlist_filename) if n}
            | {r.preview_filename for r in previews}
            | set(storyboards)
            | set(captions)
        )

    # ---- jobs -----------------------------------------------------------------------------

    async def link_jobs(
        self,
        conn: AsyncConnection,
        video_id: int,
        links: Sequence[tuple[int, bool]],
        *,
        local: bool,
        generation: int = 0,
    ) -> None:
        if links:
            await conn.execute(
                sa.insert(video_jobs),
                [
                    {
                        "job_id": job_id,
                        "video_id": video_id,
                        "required": required,
                        "local": local,
                        "generation": generation,
                    }
                    for job_id, required in links
                ],
            )

    async def job_states(
        self, conn: AsyncConnection, video_id: int, generation: int = 0
    ) -> builtins.list[tuple[bool, JobState]]:
        """(required, state) of the jobs working for one generation of the video."""
        rows = (
            await conn.execute(
                sa.select(video_jobs.c.required, runner_jobs.c.state)
                .select_from(video_jobs.join(runner_jobs, runner_jobs.c.id == video_jobs.c.job_id))
                .where(video_jobs.c.video_id == video_id, video_jobs.c.generation == generation)
            )
        ).all()
        return [(bool(r.required), JobState(r.state)) for r in rows]

    async def active_jobs_of_generation(
        self, conn: AsyncConnection, video_id: int, generation: int
    ) -> builtins.list[Any]:
        """The jobs of one generation that have not ended (an abandoned edit cancels them)."""
        rows = (
            await conn.execute(
                sa.select(runner_jobs)
                .select_from(video_jobs.join(runner_jobs, runner_jobs.c.id == video_jobs.c.job_id))
                .where(
                    video_jobs.c.video_id == video_id,
                    video_jobs.c.generation == generation,
                    runner_jobs.c.state.in_(
                        [
                            int(JobState.PENDING),
                            int(JobState.WAITING_FOR_PARENT_JOB),
                            int(JobState.PROCESSING),
                        ]
                    ),
                )
            )
        ).all()
        return [row_to_job(r) for r in rows]

    async def newest_job_generation(self, conn: AsyncConnection, video_id: int) -> int:
        """The highest generation any job of the video works for (0 with none)."""
        value = (
            await conn.execute(
                sa.select(sa.func.max(video_jobs.c.generation)).where(
                    video_jobs.c.video_id == video_id
                )
            )
        ).scalar()
        return int(value or 0)

    async def generation_of_job(self, conn: AsyncConnection, job_id: int) -> int | None:
        """The video generation a job works for; None for a job of no video."""
        return (
            await conn.execute(
                sa.select(video_jobs.c.generation).where(video_jobs.c.job_id == job_id)
            )
        ).scalar()

    async def jobs_of(self, conn: AsyncConnection, video_id: int) -> builtins.list[Any]:
        rows = (
            await conn.execute(
                sa.select(runner_jobs)
                .select_from(video_jobs.join(runner_jobs, runner_jobs.c.id == video_jobs.c.job_id))
                .where(video_jobs.c.video_id == video_id)
                .order_by(runner_jobs.c.id)
            )
        ).all()
        return [row_to_job(r) for r in rows]

    async def video_of_job(self, conn: AsyncConnection, job_id: int) -> int | None:
        return (
            await conn.execute(
                sa.select(video_jobs.c.video_id).where(video_jobs.c.job_id == job_id)
            )
        ).scalar()

    async def next_local_job(
        self, conn: AsyncConnection, now: datetime, exclude: Iterable[int] = ()
    ) -> Any | None:
        """The best PENDING job the instance must run itself (priority, then age), not backing off."""
        query = (
            sa.select(runner_jobs)
            .select_from(video_jobs.join(runner_jobs, runner_jobs.c.id == video_jobs.c.job_id))
            .where(
                video_jobs.c.local.is_(True),
                runner_jobs.c.state == int(JobState.PENDING),
                on_offer(now),
            )
            .order_by(runner_jobs.c.priority.asc(), runner_jobs.c.id.asc())
            .limit(1)
        )
        excluded = list(exclude)
        if excluded:
            query = query.where(runner_jobs.c.id.not_in(excluded))
        row = (await conn.execute(query)).first()
        return row_to_job(row) if row else None

    async def local_jobs_in(self, conn: AsyncConnection, state: JobState) -> builtins.list[Any]:
        rows = (
            await conn.execute(
                sa.select(runner_jobs)
                .select_from(video_jobs.join(runner_jobs, runner_jobs.c.id == video_jobs.c.job_id))
                .where(video_jobs.c.local.is_(True), runner_jobs.c.state == int(state))
            )
        ).all()
        return [row_to_job(r) for r in rows]

    async def is_local_job(self, conn: AsyncConnection, job_id: int) -> bool:
        value = (
            await conn.execute(sa.select(video_jobs.c.local).where(video_jobs.c.job_id == job_id))
        ).scalar()
        return bool(value)

    # ---- resumable uploads ----------------------------------------------------------------

    async def insert_upload(self, conn: AsyncConnection, values: dict[str, Any]) -> None:
        await conn.execute(sa.insert(video_uploads).values(**values))

    async def get_upload(self, conn: AsyncConnection, upload_id: str) -> dict[str, Any] | None:
        row = (
            await conn.execute(sa.select(video_uploads).where(video_uploads.c.id == upload_id))
        ).first()
        return dict(row._mapping) if row else None

    async def touch_upload(self, conn: AsyncConnection, upload_id: str, now: datetime) -> None:
        await conn.execute(
            sa.update(video_uploads).where(video_uploads.c.id == upload_id).values(updated_at=now)
        )

    async def delete_upload(self, conn: AsyncConnection, upload_id: str) -> bool:
        result = await conn.execute(sa.delete(video_uploads).where(video_uploads.c.id == upload_id))
        return result.rowcount > 0

    async def list_stale_uploads(
        self, conn: AsyncConnection, updated_before: datetime
    ) -> builtins.list[str]:
        rows = (
            await conn.execute(
                sa.select(video_uploads.c.id).where(video_uploads.c.updated_at < updated_before)
            )
        ).all()
        return [r.id for r in rows]

    async def known_uploads(self, conn: AsyncConnection, upload_ids: Iterable[str]) -> set[str]:
        """Those of `upload_ids` that are uploads in progress."""
        listed = list(set(upload_ids))
        if not listed:
            return set()
        rows = (
            await conn.execute(sa.select(video_uploads.c.id).where(video_uploads.c.id.in_(listed)))
        ).all()
        return {r.id for r in rows}

    # ---- garbage --------------------------------------------------------------------------

    async def add_garbage(
        self, conn: AsyncConnection, paths: Iterable[str], not_before: datetime
    ) -> None:
        listed = list(paths)
        if listed:
            await conn.execute(
                sa.insert(media_garbage), [{"path": p, "not_before": not_before} for p in listed]
            )

    async def due_garbage(
        self, conn: AsyncConnection, now: datetime, limit: int = 500
    ) -> builtins.list[tuple[int, str]]:
        rows = (
            await conn.execute(
                sa.select(media_garbage.c.id, media_garbage.c.path)
                .where(media_garbage.c.not_before <= now)
                .order_by(media_garbage.c.id)
                .limit(limit)
            )
        ).all()
        return [(r.id, r.path) for r in rows]

    async def drop_garbage(self, conn: AsyncConnection, ids: Iterable[int]) -> None:
        listed = list(ids)
        if listed:
            await conn.execute(sa.delete(media_garbage).where(media_garbage.c.id.in_(listed)))
