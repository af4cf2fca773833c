"""`video-studio-transcoding`, instance side: an edit request becomes one job (remote, or local
when remote studio is off), and its completion makes the edited file the next generation of
the video's files, with a new ladder built from it.

```
POST /videos/{id}/studio/edit ──► checks (PeerTube's, domain/studio.py) ──► task files stored under
  <data>/studio/<video uuid>/, one job (priority 150 + N) linked to generation g+1, video TO_EDIT
success ──► the output must decode, keep the picture's size, and last what the tasks say
  ──► Commit: the edited file as generation g+1, the ladder from it, video TO_TRANSCODE
  (no ladder: players switch at once) ── each rendition of g+1 ── once the required ones
  are in, players switch to g+1 and generation g goes (instance/videos.py switch_generation)
error / cancel ──► the video goes back to the state it had, unchanged; task files go
```

Players keep the generation-g files all along: the video never goes unplayable, nor half
edited. PeerTube (`lib/video-studio.ts`, `video-studio-transcoding-job-handler.ts`) deletes
the old files at once and unpublishes the video until the new ladder is done.

Instance only: the runner never imports this module (it reaches the database).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import uuid as uuidlib
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import av
import av.error
from sqlalchemy.ext.asyncio import AsyncConnection

from offload.domain.errors import Forbidden, OutputRefused, TaskFileNotOfJob
from offload.domain.jobs import Job, JobSpec, JobState, JobType
from offload.domain.ladder import (
    SourceFile,
    build_vod_ladder,
    input_file_url,
    recent_uploads_since,
)
from offload.domain.studio import (
    DURATION_TOLERANCE_S,
    InvalidStudioTask,
    StudioDisabled,
    StudioTask,
    VideoNotEditable,
    VideoStateNotEditable,
    edited_duration,
    parse_tasks,
)
from offload.domain.videos import Video, VideoId, VideoState, max_quality_file, playable_files
from offload.instance.accounts import User
from offload.instance.completion import Expected, check_output
from offload.instance.results import Commit, CompletionFactory, JobHandler, PostedPayload
from offload.instance.videos import UnreadableMedia, VideoService, file_values, probe_upload
from offload.media.probe import MediaInfo

__all__ = [
    "COMPLETIONS",
    "STUDIO_PRIORITY",
    "StudioCompletion",
    "request_edit",
    "task_file_path",
]

log = logging.getLogger(__name__)

#: `JOB_PRIORITY.STUDIO`, plus the uploader's videos of the past week (PeerTube's N).
STUDIO_PRIORITY = 150
#: PeerTube's task-file name rule (R12).
TASK_FILE_NAME = re.compile(r"^[a-z0-9-]+\.[a-z0-9]{1,8}$")
_EDITABLE = (VideoState.PUBLISHED, VideoState.TRANSCODING_FAILED)
_IMAGE_EXT = {"mjpeg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif", "bmp": ".bmp"}


def _task_file_url(public_url: str, job_uuid: str, video_uuid: str, filename: str) -> str:
    return input_file_url(public_url, job_uuid, video_uuid, f"studio/task-files/{filename}")


def _image_extension(path: Path) -> str:
    """The extension of a picture a watermark can be; refuses anything else."""
    invalid = InvalidStudioTask("Task add-watermark is invalid: the file is not an image")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video or container.streams.audio:
                raise invalid
            stream = container.streams.video[0]
            codec = stream.codec_context.codec.canonical_name
            frames = 0
            for _ in container.decode(video=0):
                frames += 1
                if frames > 1:
                    break
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise invalid from exc
    if frames != 1 or codec not in _IMAGE_EXT:
        raise invalid
    return _IMAGE_EXT[codec]


def _intro_info(task: StudioTask, path: Path) -> MediaInfo:
    try:
        info = probe_upload(path)
    except UnreadableMedia as exc:
        raise InvalidStudioTask(f"Task {task.name} is invalid: the file is not a video") from exc
    if not info.has_video:
        # PeerTube: the concat filter needs a picture.
        raise InvalidStudioTask(
            f"Task {task.name} is invalid: input file does not contain a video stream"
        )
    return info


async def request_edit(
    videos: VideoService,
    ident: VideoId,
    user: User,
    fields: Mapping[str, Any],
    files: Mapping[str, Path],
) -> Job:
    """Check an edit request and queue its job; the files of `files` it keeps are moved away
    (the caller removes the rest).

    Raises:
        StudioDisabled, VideoNotFound, Forbidden: as PeerTube (400, 404, 403).
        InvalidStudioTasks, InvalidStudioTask: a task PeerTube would refuse, or a cut past the end.
        VideoNotEditable: the video is being transcoded or edited (409).
        VideoStateNotEditable: any other state than published or transcoding failed (400).
        QuotaReached: the intros and outros would take the owner past their quota.
    """
    assert videos.jobs is not None, "attach the job service first"
    config = await videos.config.current()
    if not config.studio:
        raise StudioDisabled()
    video = await videos.get(ident)
    if not user.is_admin and video.owner_id != user.id:
        raise Forbidden("Cannot manage a video of another user.")
    tasks = parse_tasks(fields.get("tasks"), list(files))
    if not video.has_video:
        for task in tasks:
            if task.file_field is not None:
                raise InvalidStudioTask(
                    f"Task {task.name} is invalid: video does not contain a video stream"
                )
    _check_state(video)
    infos: dict[int, MediaInfo] = {}
    extensions: dict[int, str] = {}
    for task in tasks:
        if task.file_field is None:
            continue
        path = files[task.file_field]
        if task.name == "add-watermark":
            extensions[task.index] = await asyncio.to_thread(_image_extension, path)
        else:
            infos[task.index] = await asyncio.to_thread(_intro_info, task, path)
            extensions[task.index] = ".mp4"
    duration = edited_duration(
        tasks, video.duration_s or 0.0, lambda t: infos[t.index].duration_s or 0.0
    )
    if video.owner_id is not None and infos:
        await _check_quota(videos, video, sum(i.duration_s or 0.0 for i in infos.values()))
    return await _queue(videos, video, tasks, files, extensions, duration, config.remote_studio)


def _check_state(video: Video) -> None:
    if video.state in (VideoState.TO_TRANSCODE, VideoState.TO_EDIT):
        raise VideoNotEditable()
    if video.state not in _EDITABLE:
        raise VideoStateNotEditable()


async def _check_quota(videos: VideoService, video: Video, added_s: float) -> None:
    """PeerTube's estimate of what intros and outros add: the video's bitrate over their time."""
    assert video.owner_id is not None
    best = max_quality_file(playable_files(video, await videos.files(video)))
    if best is None or not video.duration_s:
        return
    added = int(best.size / video.duration_s * added_s)
    allowance = await videos.limiter.allowance(video.owner_id)
    allowance.check(added)


async def _queue(
    videos: VideoService,
    video: Video,
    tasks: list[StudioTask],
    files: Mapping[str, Path],
    extensions: Mapping[int, str],
    duration_s: float,
    remote: bool,
) -> Job:
    assert videos.jobs is not None
    job_uuid = videos.new_uuid()
    directory = videos.storage.studio_dir(video.uuid)
    stored: dict[int, str] = {}
    placed: list[Path] = []
    try:
        for task in tasks:
            if task.file_field is None:
                continue
            name = f"{uuidlib.uuid4()}{extensions[task.index]}"
            target = directory / name
            await asyncio.to_thread(videos.storage.place, files[task.file_field], target)
            placed.append(target)
            stored[task.index] = name
        wire_tasks = [
            t.to_wire(
                _task_file_url(videos.public_url, job_uuid, video.uuid, stored[t.index])
                if t.index in stored
                else None
            )
            for t in tasks
        ]
        original = [
            t.to_wire(stored[t.index] if t.index in stored else None) for t in tasks
        ]  # the task files by their name in the video's studio dir
        now = videos.now()
        async with videos.db.write() as conn:
            current = await videos.repo.lock(conn, video.id)
            if current is None or current.state is not video.state:
                raise VideoNotEditable()  # another edit (or an upload's ladder) got there first
            recent = (
                0
                if video.owner_id is None
                else await videos.repo.count_uploaded_since(
                    conn, video.owner_id, recent_uploads_since(now)
                )
            )
            spec = JobSpec(
                type=JobType.STUDIO,
                payload={
                    "input": {
                        "videoFileUrl": input_file_url(videos.public_url, job_uuid, video.uuid)
                    },
                    "tasks": wire_tasks,
                    "output": {},
                },
                private_payload={
                    "videoUUID": video.uuid,
                    "originalTasks": original,
                    "previousState": int(video.state),
                    "expectedDuration": round(duration_s, 3),
                },
                priority=STUDIO_PRIORITY + recent,
            )
            (job,) = await videos.jobs.repo.insert_many(conn, [spec], [job_uuid], now)
            await videos.repo.link_jobs(
                conn, video.id, [(job.id, True)], local=not remote, generation=video.generation + 1
            )
            await videos.repo.set_state(conn, video.id, video.state, VideoState.TO_EDIT, now)
    except BaseException:
        for path in placed:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        raise
    log.info(
        "video %s: studio edit queued as job %s (%s)",
        video.uuid,
        job.uuid,
        ", ".join(t.name for t in tasks),
    )
    videos.jobs_added(local=not remote)
    return job


def task_file_path(videos: VideoService, job: Job, video: Video, filename: str) -> Path:
    """The stored task file a studio job names (R12's checks: the name's shape, then that
    one of this job's tasks names it).

    Raises:
        TaskFileNotOfJob: a malformed name, or no task of this job has that file.
    """
    if not TASK_FILE_NAME.match(filename):
        raise TaskFileNotOfJob("Invalid filename")
    listed: Any = job.payload.get("tasks") or []
    for task in listed:
        options = task.get("options") if isinstance(task, Mapping) else None
        url = options.get("file") if isinstance(options, Mapping) else None
        if isinstance(url, str) and url.rsplit("/", 1)[-1] == filename:
            return videos.storage.studio_dir(video.uuid) / filename
    raise TaskFileNotOfJob()


def _task_files(videos: VideoService, job: Job) -> list[Path]:
    """The stored task files of a studio job (from its private payload)."""
    video_uuid = str(job.private_payload.get("videoUUID", ""))
    paths = []
    original: Any = job.private_payload.get("originalTasks") or []
    for task in original:
        options = task.get("options") if isinstance(task, Mapping) else None
        name = options.get("file") if isinstance(options, Mapping) else None
        if isinstance(name, str) and TASK_FILE_NAME.match(name) and video_uuid:
            paths.append(videos.storage.studio_dir(video_uuid) / name)
    return paths


class StudioCompletion:
    """The `JobHandler` of `video-studio-transcoding`."""

    def __init__(
        self, videos: VideoService, now: Callable[[], datetime], on_change: Callable[[], None]
    ) -> None:
        self.videos = videos
        self.now = now
        self.on_change = on_change

    async def complete(self, job: Job, result: PostedPayload) -> Commit | None:
        videos = self.videos
        video_uuid = str(job.private_payload.get("videoUUID", ""))
        async with videos.db.read() as conn:
            video = await videos.repo.get_by_uuid(conn, video_uuid)
            files = await videos.repo.list_files(conn, video.id) if video is not None else []
        if video is None or video.state is not VideoState.TO_EDIT:
            log.info("video %s of studio job %s is gone or not being edited", video_uuid, job.uuid)
            return None
        source = max_quality_file(playable_files(video, files))
        output = result.files["videoFile"]
        expected = Expected(
            source.resolution if source is not None else video.input_resolution,
            video=video.has_video,
            audio=video.has_audio,
        )
        # Duration checked below with the edit's own tolerance, not a rendition's.
        check = await asyncio.to_thread(check_output, expected, _without_duration(video), output)
        expected_duration: Any = job.private_payload.get("expectedDuration") or 0.0
        wanted = float(expected_duration)
        lasts = check.info.duration_s
        if wanted and lasts is not None and abs(lasts - wanted) > DURATION_TOLERANCE_S:
            raise OutputRefused(
                f"the edited video lasts {lasts:.2f} s, its tasks give {wanted:.2f} s"
            )
        info = check.info
        generation = video.generation + 1
        filename = f"{uuidlib.uuid4()}-{info.resolution}.mp4"
        target = videos.storage.web_dir / filename
        await videos.forget_later([target])
        await asyncio.to_thread(videos.storage.place, output, target)
        values = await asyncio.to_thread(
            file_values,
            info,
            target,
            kind="web",
            filename=filename,
            video_id=video.id,
            now=self.now(),
        )
        values["generation"] = generation

        async def commit(conn: AsyncConnection) -> None:
            await self._commit(conn, job, video.id, generation, values, info)

        return commit

    async def _commit(
        self,
        conn: AsyncConnection,
        job: Job,
        video_id: int,
        generation: int,
        values: dict[str, Any],
        info: MediaInfo,
    ) -> None:
        """Runs in the transaction that marks the job COMPLETED."""
        videos = self.videos
        assert videos.jobs is not None
        now = self.now()
        video = await videos.repo.lock(conn, video_id)
        if video is None or video.state is not VideoState.TO_EDIT:
            return  # deleted or given up meanwhile: the placed file is queued for deletion
        new = await videos.repo.insert_file(conn, values)
        await self._forget_task_files(conn, job, now)
        config = await videos.config.current()
        recent = (
            0
            if video.owner_id is None
            else await videos.repo.count_uploaded_since(
                conn, video.owner_id, recent_uploads_since(now)
            )
        )
        ladder = build_vod_ladder(
            SourceFile(
                new.id,
                info.resolution,
                info.video.fps if info.video else 0.0,
                info.has_audio,
                info.has_video,
            ),
            config.transcoding,
            video_uuid=video.uuid,
            public_url=videos.public_url,
            new_uuid=videos.new_uuid,
            is_new_video=False,
            recent_uploads=recent,
        )
        if not ladder:
            files = await videos.repo.list_files(conn, video.id)
            await videos.switch_generation(conn, video, generation, files, now)
            return
        jobs = await videos.jobs.repo.insert_many(
            conn, [j.spec for j in ladder], [j.uuid for j in ladder], now
        )
        await videos.repo.link_jobs(
            conn,
            video.id,
            [(j.id, planned.required) for j, planned in zip(jobs, ladder, strict=True)],
            local=not config.remote_vod,
            generation=generation,
        )
        await videos.repo.set_state(
            conn, video.id, VideoState.TO_EDIT, VideoState.TO_TRANSCODE, now
        )
        videos.jobs_added(local=not config.remote_vod)

    async def _forget_task_files(self, conn: AsyncConnection, job: Job, now: datetime) -> None:
        paths = [self.videos.storage.relative(p) for p in _task_files(self.videos, job)]
        await self.videos.repo.add_garbage(conn, paths, now)
        self.videos.kick_janitor()

    async def on_update(self, job: Job, update: PostedPayload) -> None:
        return None

    async def on_finished(self, job: Job) -> None:
        """ERRORED or CANCELLED: the video goes back to what it was, its files untouched."""
        videos = self.videos
        now = self.now()
        async with videos.db.write() as conn:
            video_id = await videos.repo.video_of_job(conn, job.id)
            video = await videos.repo.lock(conn, video_id) if video_id is not None else None
            await self._forget_task_files(conn, job, now)
            if video is None or video.state is not VideoState.TO_EDIT:
                return
            previous_state: Any = job.private_payload.get("previousState", 1)
            previous = VideoState(int(previous_state))
            reason = (
                f"The studio edit failed: {job.error}"
                if job.state is JobState.ERRORED and job.error
                else "The studio edit was cancelled"
            )
            await videos.repo.set_state(
                conn, video.id, VideoState.TO_EDIT, previous, now, error=reason
            )
        log.info("video %s: %s", video.uuid, reason)
        self.on_change()


def _without_duration(video: Video) -> Video:
    return dataclasses.replace(video, duration_s=None)


def _completion(
    videos: VideoService, now: Callable[[], datetime], on_change: Callable[[], None]
) -> JobHandler:
    return StudioCompletion(videos, now, on_change)


COMPLETIONS: dict[JobType, CompletionFactory] = {JobType.STUDIO: _completion}
