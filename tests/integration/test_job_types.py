"""Adding a job type is adding one module: a type defined in this file — its payload shapes and
processing step (the runner half) and its completion (the instance half) — is registered at
run time through the seams every type uses and runs end to end on the instance's own worker,
without a line of the core knowing it."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from offload.domain.errors import OutputRefused
from offload.domain.jobs import Job, JobSpec, JobType
from offload.domain.ladder import LadderJob, input_file_url
from offload.domain.videos import VideoId
from offload.instance.media import media_of
from offload.instance.results import Commit, JobHandler, KeepFilesHandler, PostedPayload
from offload.instance.videos import VideoService
from offload.jobs.completions import BUILTIN_COMPLETIONS
from offload.jobs.kind import JobKind, Work, no_update_payload, success_files
from tests.clips import MediaClips, upload
from tests.support import RunningInstance, start_instance, wait_until

COMPLETED = 3

# ---- the type: what would be `offload/jobs/copy.py` --------------------------------------

#: A protocol type whose built-in implementation the test replaces with its own (transcription
#: is off by default, so no built-in job of the type gets in the way).
COPY = JobType.TRANSCRIPTION


def plan_copy(video_uuid: str, public_url: str, new_uuid: Callable[[], str]) -> LadderJob:
    """How the instance creates the job: one input URL, named with the job's own UUID."""
    job_uuid = new_uuid()
    payload: dict[str, object] = {
        "input": {"videoFileUrl": input_file_url(public_url, job_uuid, video_uuid)}
    }
    return LadderJob(
        job_uuid, JobSpec(COPY, payload, {"videoUUID": video_uuid}, priority=100), required=False
    )


async def process_copy(payload: dict[str, Any], work: Work) -> dict[str, Path]:
    """The processing step: the input, copied."""
    work.workdir.mkdir(parents=True, exist_ok=True)
    source = await work.fetch(str(payload["input"]["videoFileUrl"]))
    target = work.workdir / "copy.mp4"
    await asyncio.to_thread(shutil.copyfile, source, target)
    work.on_progress(100)
    return {"videoFile": target}


COPY_KIND = JobKind(COPY, success_files("videoFile"), no_update_payload, process_copy)


class CopyCompletion:
    """The completion: refuse a copy that differs from the video's file, keep a good one."""

    def __init__(
        self, videos: VideoService, now: Callable[[], datetime], on_change: Callable[[], None]
    ) -> None:
        self.videos = videos
        self.root = videos.storage.root / "copies"

    async def complete(self, job: Job, result: PostedPayload) -> Commit | None:
        video = await self.videos.get(VideoId(uuid=str(job.private_payload["videoUUID"])))
        [original] = await self.videos.files(video)
        source = self.videos.storage.file_path(video.uuid, original)
        if _digest(result.files["videoFile"]) != _digest(source):
            raise OutputRefused("the copy differs from the original")
        self.root.mkdir(parents=True, exist_ok=True)
        result.files["videoFile"].replace(self.root / f"{job.uuid}.mp4")
        return None

    async def on_update(self, job: Job, update: PostedPayload) -> None:
        return None

    async def on_finished(self, job: Job) -> None:
        return None


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def register_copy(app: Any, services: Any) -> None:
    """Registration, at run time: the kind into the instance's registry (which its local
    workers read), the completion beside the built-in ones."""
    services.jobs.kinds = services.jobs.kinds.replacing(COPY_KIND)
    services.jobs.handlers[COPY] = CopyCompletion(
        media_of(services).videos, services.jobs.now, lambda: None
    )


# ---- the tests ---------------------------------------------------------------------------


@pytest.fixture
def copying_instance(tmp_path: Path) -> Iterator[RunningInstance]:
    """Uploads published as they are (no VOD jobs), one local worker, the copy type registered."""
    instance = start_instance(
        tmp_path / "data",
        plugins=[register_copy],
        remote_vod=False,
        transcoding_enabled=False,
        local_transcoding_concurrency=1,
    )
    yield instance
    instance.stop()


def test_a_type_registered_at_run_time_runs_end_to_end_on_a_local_worker(
    copying_instance: RunningInstance, media_clips: MediaClips
) -> None:
    """A job of the test's own type is planned, processed by a local worker with its processing
    step, checked and stored by its completion: COMPLETED, the copy equal to the upload."""
    instance = copying_instance
    video_uuid = upload(instance, media_clips.small).json()["video"]["uuid"]
    videos = media_of(instance.services).videos

    async def create() -> list[Job]:
        video = await videos.get(VideoId(uuid=video_uuid))
        return await videos.add_jobs(
            video, [plan_copy(video.uuid, videos.public_url, videos.new_uuid)], local=True
        )

    [job] = instance.call(create)

    wait_until(
        lambda: instance.call(instance.services.jobs.get, job.uuid).state == COMPLETED,
        timeout_s=30,
        message="the copy job completed",
    )
    copy = instance.settings.data_dir / "copies" / f"{job.uuid}.mp4"
    assert _digest(copy) == _digest(media_clips.small)


def test_every_processable_type_has_its_completion_on_the_instance(
    instance: RunningInstance,
) -> None:
    """The instance's handlers: each built-in completion is a JobHandler for its type; every
    other wire type keeps what the runner sent, as before."""
    handlers = instance.services.jobs.handlers
    assert set(handlers) == set(JobType)
    for job_type in JobType:
        handler: JobHandler = handlers[job_type]
        assert isinstance(handler, JobHandler)
        assert isinstance(handler, KeepFilesHandler) is (job_type not in BUILTIN_COMPLETIONS), (
            job_type
        )
