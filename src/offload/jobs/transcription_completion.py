"""`video-transcription`, instance side: the job planned after an upload (or asked for with
`POST /videos/{id}/captions/generate`), and its completion (the VTT must parse as WebVTT with
cues inside the video's duration; it is stored as the video's automatically generated caption
in the detected language, replacing the previous one of that language).

PeerTube (`server/core/lib/video-captions.ts`, `createTranscriptionTaskIfNeeded`; the
`video-transcription` job handler): one job with priority 200 when `videoTranscription.enabled`
and the video has an audio stream; independent of the transcoding jobs. A language code the
instance does not know (`toto`) stores nothing and the job still completes.

Instance only: the runner never imports this module (it reaches the database).
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid as uuidlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from offload.domain.errors import AlreadyTranscribing, InvalidInput, OutputRefused
from offload.domain.jobs import TERMINAL_STATES, Job, JobSpec, JobType
from offload.domain.ladder import LadderJob, input_file_url
from offload.domain.languages import LANGUAGES
from offload.domain.videos import Video, VideoId
from offload.instance.results import Commit, CompletionFactory, JobHandler, PostedPayload
from offload.instance.videos import VideoService
from offload.store.captions import Caption, CaptionRepository

__all__ = [
    "CAPTION_MAX_BYTES",
    "COMPLETIONS",
    "TRANSCRIPTION_PRIORITY",
    "TranscriptionCompletion",
    "TranscriptionPlanner",
    "captions_to_wire",
    "check_webvtt",
]

log = logging.getLogger(__name__)

#: `JOB_PRIORITY.TRANSCRIPTION`: after VOD renditions and studio edits.
TRANSCRIPTION_PRIORITY = 200
#: PeerTube's caption file limit (`CONSTRAINTS_FIELDS.VIDEO_CAPTIONS.CAPTION_FILE.FILE_SIZE`).
CAPTION_MAX_BYTES = 20 * 1024 * 1024
#: How far past the video's end a cue may run: Whisper pads its last segment a little.
END_TOLERANCE_S = 1.0

_TIMING = re.compile(
    r"^((?:\d+:)?\d{2}:\d{2}\.\d{3})\s+-->\s+((?:\d+:)?\d{2}:\d{2}\.\d{3})(?:\s.*)?$"
)


def _seconds(stamp: str) -> float:
    parts = [float(p) for p in stamp.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0.0)
    hours, minutes, seconds = parts
    return hours * 3600 + minutes * 60 + seconds


def check_webvtt(text: str, duration_s: float | None) -> int:
    """The number of cues of a WebVTT document whose cues all end by `duration_s` (plus
    `END_TOLERANCE_S`; None: no bound).

    Raises:
        OutputRefused: not WebVTT, a malformed or backwards timing, or a cue past the end.
    """
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not re.match(r"^WEBVTT(?:[ \t].*)?$", lines[0]):
        raise OutputRefused("the caption is not WebVTT: it does not start with WEBVTT")
    cues = 0
    for number, line in enumerate(lines[1:], start=2):
        if "-->" not in line:
            continue
        timing = _TIMING.match(line.strip())
        if timing is None:
            raise OutputRefused(f"the caption is not WebVTT: bad cue timing on line {number}")
        start, end = _seconds(timing[1]), _seconds(timing[2])
        if end < start:
            raise OutputRefused(f"the caption's cue on line {number} ends before it starts")
        if duration_s is not None and end > duration_s + END_TOLERANCE_S:
            raise OutputRefused(
                f"the caption's cue on line {number} ends at {end:.3f} s, past the end of the "
                f"{duration_s:.3f} s video"
            )
        cues += 1
    return cues


def _has_pending_transcription(jobs: list[Job]) -> bool:
    return any(j.type is JobType.TRANSCRIPTION and j.state not in TERMINAL_STATES for j in jobs)


class TranscriptionPlanner:
    """Adds the transcription job of a video: after its upload (`after_create` hook) when
    transcription is on, and on demand (`generate`)."""

    def __init__(self, videos: VideoService) -> None:
        self.videos = videos

    async def __call__(self, video_id: int) -> None:
        config = await self.videos.config.current()
        if not config.transcription:
            return
        async with self.videos.db.read() as conn:
            video = await self.videos.repo.get(conn, VideoId(id=video_id))
        if video is None or not video.has_audio:
            return
        await self._add(video, remote=config.remote_transcription)

    async def after_edit(self, video_id: int) -> None:
        """A studio edit changed the content: its automatic captions are made again (as
        PeerTube does after an edit), when transcription is on and the video had one."""
        config = await self.videos.config.current()
        if not config.transcription:
            return
        async with self.videos.db.write() as conn:  # waits for the commit of the switch
            video = await self.videos.repo.lock(conn, video_id)
            captions = await CaptionRepository().of_video(conn, video_id) if video else []
            jobs = await self.videos.repo.jobs_of(conn, video_id) if video else []
        if video is None or not video.has_audio or _has_pending_transcription(jobs):
            return
        if any(c.automatically_generated for c in captions):
            await self._add(video, remote=config.remote_transcription)

    async def generate(self, ident: VideoId) -> None:
        """PeerTube's `POST /videos/{id}/captions/generate`.

        Raises:
            VideoNotFound, InvalidInput (transcription off, no audio), AlreadyTranscribing.
        """
        config = await self.videos.config.current()
        details = await self.videos.details(ident)
        if not config.transcription:
            raise InvalidInput("Transcription is not enabled on this instance")
        if not details.video.has_audio:
            raise InvalidInput("This video has no audio stream to transcribe")
        if _has_pending_transcription(details.jobs):
            raise AlreadyTranscribing()
        await self._add(details.video, remote=config.remote_transcription)

    async def _add(self, video: Video, *, remote: bool) -> None:
        job_uuid = str(uuidlib.uuid4())
        url = input_file_url(self.videos.public_url, job_uuid, video.uuid, "max-quality/audio")
        spec = JobSpec(
            type=JobType.TRANSCRIPTION,
            payload={"input": {"videoFileUrl": url}, "output": {}},
            private_payload={"videoUUID": video.uuid},
            priority=TRANSCRIPTION_PRIORITY,
        )
        await self.videos.add_jobs(
            video, [LadderJob(job_uuid, spec, required=False)], local=not remote
        )


async def captions_to_wire(videos: VideoService, ident: VideoId) -> dict[str, Any]:
    """PeerTube's `GET /videos/{id}/captions` answer (VideoNotFound for an unknown video)."""
    video = await videos.get(ident)
    async with videos.db.read() as conn:
        captions = await CaptionRepository().of_video(conn, video.id)
    data = []
    for caption in captions:
        path = f"/lazy-static/video-captions/{caption.filename}"
        data.append(
            {
                "language": {
                    "id": caption.language,
                    "label": LANGUAGES.get(caption.language, caption.language),
                },
                "captionPath": path,
                "fileUrl": f"{videos.public_url}{path}",
                "automaticallyGenerated": caption.automatically_generated,
                "updatedAt": caption.updated_at.isoformat().replace("+00:00", "Z"),
            }
        )
    return {"total": len(data), "data": data}


def _read_caption(path: Path) -> str:
    if path.stat().st_size > CAPTION_MAX_BYTES:
        raise OutputRefused(f"the caption is larger than {CAPTION_MAX_BYTES} bytes")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise OutputRefused("the caption is not WebVTT: it is not UTF-8 text") from exc


class TranscriptionCompletion:
    """The `JobHandler` of `video-transcription`."""

    def __init__(self, videos: VideoService, now: Callable[[], datetime]) -> None:
        self.videos = videos
        self.now = now
        self.repo = CaptionRepository()

    async def complete(self, job: Job, result: PostedPayload) -> Commit | None:
        video_uuid = str(job.private_payload.get("videoUUID", ""))
        async with self.videos.db.read() as conn:
            video = await self.videos.repo.get_by_uuid(conn, video_uuid)
        if video is None:
            log.info("video %s of job %s is gone; dropping the caption", video_uuid, job.uuid)
            return None
        source = result.files["vttFile"]
        text = await asyncio.to_thread(_read_caption, source)
        cues = check_webvtt(text, video.duration_s)
        language = str(result.fields.get("inputLanguage") or "")
        if language not in LANGUAGES:
            # PeerTube: an unknown code stores nothing, and the job is done all the same.
            log.info(
                "job %s: language %r is not one this instance knows; no caption stored",
                job.uuid,
                language,
            )
            return None
        storage = self.videos.storage
        filename = f"{uuidlib.uuid4()}-{language}.vtt"
        target = storage.captions_dir / filename
        await self.videos.forget_later([target])
        await asyncio.to_thread(storage.place, source, target)
        caption = Caption(video.id, language, filename, True, self.now())
        log.info("job %s: %d cue(s) in %s for video %s", job.uuid, cues, language, video.uuid)

        async def commit(conn: AsyncConnection) -> None:
            if await self.videos.repo.lock(conn, video.id) is None:
                return  # deleted meanwhile: the placed file is queued for deletion already
            replaced = await self.repo.replace(conn, caption)
            if replaced is not None:
                await self.videos.repo.add_garbage(
                    conn, [storage.relative(storage.captions_dir / replaced)], self.now()
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
    # The job follows the upload; the planner rides along with the handler so that the type
    # stays one unit (one module, one registration).
    planner = TranscriptionPlanner(videos)
    videos.after_create.append(planner)
    videos.after_edit.append(planner.after_edit)
    return TranscriptionCompletion(videos, now)


COMPLETIONS: dict[JobType, CompletionFactory] = {JobType.TRANSCRIPTION: _completion}
