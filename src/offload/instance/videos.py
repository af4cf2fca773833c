"""Video use cases: create a video from an upload (probe first, then video + file + job ladder in
one transaction), read, list, delete, resumable uploads, and the janitor that deletes files no
row refers to any more and resumable uploads left untouched too long.

Uploads are held to the instance's limits (size, duration, each user's quota: see
`offload.domain.uploads`); a disk that fills up while one is written is `StorageFull`, and
nothing half-written stays.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import re
import secrets
import uuid as uuidlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import av
import av.error
from sqlalchemy.ext.asyncio import AsyncConnection

from offload.domain.errors import (
    ChunkTooLarge,
    FileTooLarge,
    InvalidInput,
    JobNotCancellable,
    NotFound,
    StorageFull,
    VideoNotFound,
)
from offload.domain.jobs import CANCELLABLE_STATES, Job, JobState
from offload.domain.ladder import LadderJob, SourceFile, build_vod_ladder, recent_uploads_since
from offload.domain.uploads import UploadLimits
from offload.domain.videos import (
    Video,
    VideoFile,
    VideoId,
    VideoState,
    max_quality_file,
    next_video_state,
    playable_files,
)
from offload.instance.jobs import JobService
from offload.instance.media_config import ConfigService
from offload.instance.upload_limits import UploadLimiter
from offload.media.errors import FfmpegError, ProbeError
from offload.media.ffmpeg import resolve_ffmpeg_path
from offload.media.pictures import fit_picture
from offload.media.playlists import MASTER_PLAYLIST, codecs_of, master_playlist
from offload.media.probe import MediaInfo, probe
from offload.media.storage import MediaStorage, default_preview_png, disk_full_as_storage_full
from offload.store.captions import CaptionRepository
from offload.store.database import Database
from offload.store.storyboards import StoryboardRepository
from offload.store.videos import VideoRepository

__all__ = [
    "UnreadableMedia",
    "UploadNotFound",
    "VideoDetails",
    "VideoService",
    "extension_for",
    "file_values",
]

log = logging.getLogger(__name__)

#: Formats that open as "video" but are one picture (an image is not a video upload).
_IMAGE_FORMATS = re.compile(r"^(image2|.*_pipe|gif|apng|webp)$")
_IMAGE_EXT = {"mjpeg": ".jpg", "png": ".png", "webp": ".webp"}
_SAFE_EXT = re.compile(r"^\.[a-z0-9]{1,8}$")
#: Files the janitor finds must be this old before it deletes them unreferenced: an upload or
#: completion moves a file into place before the transaction that refers to it commits.
ORPHAN_GRACE = timedelta(hours=1)


class UnreadableMedia(InvalidInput):
    """Video file unreadable."""


class UploadNotFound(NotFound):
    """Upload not found"""


@dataclass(frozen=True, slots=True)
class VideoDetails:
    video: Video
    files: list[VideoFile]
    jobs: list[Job]


def file_values(
    info: MediaInfo,
    path: Path,
    *,
    kind: str,
    filename: str,
    video_id: int,
    now: datetime,
    playlist_filename: str | None = None,
) -> dict[str, Any]:
    """The `video_files` row of a probed file."""
    size = path.stat().st_size
    duration = info.duration_s
    bandwidth = int(size * 8 / duration) if duration else int(info.bit_rate or 0)
    video = info.video
    return {
        "video_id": video_id,
        "kind": kind,
        "filename": filename,
        "playlist_filename": playlist_filename,
        "resolution": info.resolution,
        "fps": int(video.fps + 0.5) if video else 0,
        "width": video.width if video else 0,
        "height": video.height if video else 0,
        "size": size,
        "duration_s": duration,
        "bandwidth": bandwidth,
        "codecs": codecs_of(path),
        "has_video": info.has_video,
        "has_audio": info.has_audio,
        "created_at": now,
    }


#: Container → its usual extension, for uploads whose name says nothing (multipart parts are
#: not named) or something else than the content.
_FORMAT_EXT = {
    "ogg": ".ogg",
    "mp3": ".mp3",
    "wav": ".wav",
    "flac": ".flac",
    "avi": ".avi",
    "mpegts": ".ts",
    "flv": ".flv",
    "aac": ".aac",
}
_FAMILY_EXTS = {
    "mov,mp4,m4a,3gp,3g2,mj2": {".mp4", ".m4v", ".m4a", ".mov", ".3gp"},
    "matroska,webm": {".mkv", ".webm"},
    "ogg": {".ogg", ".ogv", ".oga", ".opus"},
}


def extension_for(info: MediaInfo, original_filename: str) -> str:
    """The stored file's extension (it sets the MIME type runners and players get): the
    uploaded name's when it fits the container, else the container's own."""
    ext = Path(original_filename).suffix.lower()
    if _SAFE_EXT.match(ext) and ext in _FAMILY_EXTS.get(
        info.format_name, {_FORMAT_EXT.get(info.format_name)}
    ):
        return ext
    if info.format_name in _FORMAT_EXT:
        return _FORMAT_EXT[info.format_name]
    if info.format_name.startswith("matroska"):
        return (
            ".webm" if info.video is None or info.video.codec in ("vp8", "vp9", "av1") else ".mkv"
        )
    return ".mp4" if info.has_video else ".m4a"


def probe_upload(path: Path) -> MediaInfo:
    """Probe an uploaded file and refuse what is not audio or video (pictures included)."""
    try:
        info = probe(path)
    except ProbeError as exc:
        # The temp file's name means nothing to the uploader.
        raise UnreadableMedia(
            f"Video file unreadable: {exc.message.replace(path.name, 'the file')}"
        ) from exc
    if _IMAGE_FORMATS.match(info.format_name) or not info.duration_s or info.duration_s <= 0:
        raise UnreadableMedia("Video file unreadable: this is a picture, not audio or video")
    return info


def check_image(path: Path) -> str:
    """A preview must be one decodable JPEG, PNG or WebP picture; returns its extension."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise UnreadableMedia("Preview file unreadable: not an image")
            codec = container.streams.video[0].codec_context.codec.canonical_name
            next(container.decode(video=0))
    except (av.error.FFmpegError, OSError, StopIteration) as exc:
        raise UnreadableMedia("Preview file unreadable: not an image") from exc
    ext = _IMAGE_EXT.get(codec)
    if ext is None:
        raise UnreadableMedia("Preview file unreadable: a JPEG, PNG or WebP picture is expected")
    return ext


class VideoService:
    """Videos and their files; the job ladder of each upload."""

    def __init__(
        self,
        db: Database,
        now: Callable[[], datetime],
        storage: MediaStorage,
        config: ConfigService,
        public_url: str,
        *,
        limits: UploadLimits | None = None,
        new_uuid: Callable[[], str] = lambda: str(uuidlib.uuid4()),
        ffmpeg_path: str | None = None,
    ) -> None:
        self.db = db
        #: The ffmpeg that makes previews (`[ffmpeg] path`, else the usual fallbacks).
        self.ffmpeg_path = ffmpeg_path
        self.now = now
        self.storage = storage
        self.config = config
        self.public_url = public_url
        self.new_uuid = new_uuid
        self.limits = limits or UploadLimits()
        self.limiter = UploadLimiter(db, now, self.limits)
        self.repo = VideoRepository()
        self.jobs: JobService | None = None
        #: Called after an upload created local jobs (wakes the local workers).
        self.on_local_jobs: Callable[[], None] = lambda: None
        #: Run with a video's id once it may have been published (job types that follow
        #: publication, such as storyboards, add themselves); each checks the state again.
        self.after_publish: builtins.list[Callable[[int], Awaitable[None]]] = []
        #: Run with a new video's id once its upload is stored (job types that follow the
        #: upload, such as transcription, add themselves); awaited before `create` returns.
        self.after_create: builtins.list[Callable[[int], Awaitable[None]]] = []
        #: Run with a video's id once players switched to the files of a studio edit (what
        #: follows the content, such as automatic captions, adds itself); in the background,
        #: each hook waiting for the video's row as `after_publish` hooks do.
        self.after_edit: builtins.list[Callable[[int], Awaitable[None]]] = []
        self._publish_tasks: set[asyncio.Task[None]] = set()
        self._janitor_kick = asyncio.Event()
        self._upload_locks: dict[str, asyncio.Lock] = {}

    # ---- creation -------------------------------------------------------------------------

    async def create(
        self,
        *,
        name: str,
        media: Path,
        original_filename: str,
        preview: Path | None = None,
        owner_id: int | None = None,
    ) -> Video:
        """Probe an uploaded file and create the video, its file and its job ladder.

        The temp files are moved into the media tree only once the upload is known to be
        audio or video within the limits; on any failure nothing is left behind (the caller
        removes its temps). `owner_id` is the uploading user: the upload counts against their
        quota, and their uploads of the past week lower the priority of the new jobs
        (PeerTube's N); with no owner, N = 0.

        Raises:
            UnreadableMedia: the file (or the preview) is not what it claims to be.
            FileTooLarge, QuotaReached: the file is over the size cap or the owner's quota.
            VideoTooLong: the video lasts longer than the duration cap.
            StorageFull: the disk filled up while the files were put in place.
        """
        assert self.jobs is not None, "attach the job service first"
        if media.stat().st_size > self.limits.max_file_bytes:
            raise FileTooLarge()
        info = await asyncio.to_thread(probe_upload, media)
        self.limits.check_duration(info.duration_s or 0.0)
        if preview is not None:
            await asyncio.to_thread(check_image, preview)
        config = await self.config.current()
        video_uuid = self.new_uuid()
        ext = extension_for(info, original_filename)
        file_name = f"{self.new_uuid()}-{info.resolution}{ext}"
        target = self.storage.web_dir / file_name
        # Every video gets a preview, as on PeerTube: the uploaded one, else a frame of the
        # video, else (audio) a default picture.
        preview_name = self.new_uuid() + (
            ".jpg" if preview is not None or info.has_video else ".png"
        )
        # Files go into place before the transaction that refers to them; should the process die
        # in between, these rows let the janitor remove them once the grace period is over.
        await self.forget_later([target, self.storage.preview_path(preview_name)])
        placed: list[Path] = []
        try:
            with disk_full_as_storage_full():
                await self._place(media, target, preview, preview_name, info, placed)
            codecs_values = await asyncio.to_thread(
                file_values,
                info,
                target,
                kind="web",
                filename=file_name,
                video_id=0,
                now=self.now(),
            )
            video, ladder = await self._insert(
                name, video_uuid, info, codecs_values, preview_name, config, owner_id
            )
        except BaseException:
            for path in placed:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            raise
        if ladder and any(j.parent is None for j in ladder):
            if config.remote_vod:
                self.jobs.notifier.ping()
            else:
                self.on_local_jobs()
        for hook in self.after_create:
            try:
                await hook(video.id)
            except Exception:  # a side job must not fail the upload that is stored already
                log.exception("a job planned after the upload of video %s failed", video.uuid)
        if video.state is VideoState.PUBLISHED:
            self.published(video.id)
        return video

    async def _place(
        self,
        media: Path,
        target: Path,
        preview: Path | None,
        preview_name: str,
        info: MediaInfo,
        placed: builtins.list[Path],
    ) -> None:
        """Move the upload into place and make its preview, noting each file in `placed`."""
        await asyncio.to_thread(self.storage.place, media, target)
        placed.append(target)
        path = self.storage.preview_path(preview_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        ffmpeg = resolve_ffmpeg_path(self.ffmpeg_path)
        if preview is not None:
            # Resized as PeerTube does: runners loop it at its own size in an audio merge.
            try:
                await fit_picture(ffmpeg, preview, path)
            except FfmpegError as exc:
                raise UnreadableMedia("Preview file unreadable: not an image") from exc
        elif info.has_video:
            # A frame from the middle, where PeerTube's screenshot of the video is taken.
            try:
                await fit_picture(ffmpeg, target, path, at_s=(info.duration_s or 0.0) / 2)
            except FfmpegError as exc:
                # The video itself probed fine: its transcoding will say more, if anything.
                log.warning("no preview from the upload %s: %s", target.name, exc)
                await asyncio.to_thread(self.storage.write_bytes, path, default_preview_png())
        else:
            # The audio merge needs a picture; PeerTube falls back to a default preview.
            await asyncio.to_thread(self.storage.write_bytes, path, default_preview_png())
        placed.append(path)

    async def _insert(
        self,
        name: str,
        video_uuid: str,
        info: MediaInfo,
        values: dict[str, Any],
        preview_name: str,
        config: Any,
        owner_id: int | None,
    ) -> tuple[Video, list[Any]]:
        assert self.jobs is not None
        now = self.now()
        async with self.db.write() as conn:
            if owner_id is not None:
                # The last word on the quota, with the owner's row held: their concurrent
                # uploads cannot both take the room that is left.
                (await self.limiter.allowance_in(conn, owner_id, lock=True)).check(values["size"])
            video = await self.repo.insert_video(
                conn,
                {
                    "uuid": video_uuid,
                    "name": name,
                    "state": int(
                        VideoState.TO_TRANSCODE
                        if config.transcoding.enabled
                        else VideoState.PUBLISHED
                    ),
                    "duration_s": info.duration_s,
                    "has_video": info.has_video,
                    "has_audio": info.has_audio,
                    "input_resolution": info.resolution,
                    "input_fps": info.video.fps if info.video else 0.0,
                    "preview_filename": preview_name,
                    "created_at": now,
                    "updated_at": now,
                    "published_at": None if config.transcoding.enabled else now,
                    "owner_id": owner_id,
                },
            )
            recent = (
                0
                if owner_id is None
                else await self.repo.count_uploaded_since(conn, owner_id, recent_uploads_since(now))
            )
            file = await self.repo.insert_file(conn, {**values, "video_id": video.id})
            source = SourceFile(
                file.id,
                info.resolution,
                info.video.fps if info.video else 0.0,
                info.has_audio,
                info.has_video,
            )
            ladder = build_vod_ladder(
                source,
                config.transcoding,
                video_uuid=video_uuid,
                public_url=self.public_url,
                new_uuid=self.new_uuid,
                recent_uploads=recent,
            )
            if not ladder:
                return video, []
            jobs = await self.jobs.repo.insert_many(
                conn, [j.spec for j in ladder], [j.uuid for j in ladder], now
            )
            await self.repo.link_jobs(
                conn,
                video.id,
                [(job.id, j.required) for job, j in zip(jobs, ladder, strict=True)],
                local=not config.remote_vod,
            )
        return video, [j.spec for j in ladder]

    # ---- reads ----------------------------------------------------------------------------

    async def get(self, ident: VideoId) -> Video:
        async with self.db.read() as conn:
            video = await self.repo.get(conn, ident)
        if video is None:
            raise VideoNotFound()
        return video

    async def details(self, ident: VideoId) -> VideoDetails:
        async with self.db.read() as conn:
            video = await self.repo.get(conn, ident)
            if video is None:
                raise VideoNotFound()
            files = await self.repo.list_files(conn, video.id)
            jobs = await self.repo.jobs_of(conn, video.id)
        return VideoDetails(video, playable_files(video, files), jobs)

    async def files(self, video: Video) -> list[VideoFile]:
        """Every file of the video, of every generation (job inputs take `newest_files`)."""
        async with self.db.read() as conn:
            return await self.repo.list_files(conn, video.id)

    async def list(
        self, start: int, count: int, sort: str
    ) -> tuple[int, list[tuple[Video, list[VideoFile]]]]:
        async with self.db.read() as conn:
            total, videos = await self.repo.list(conn, start, count, sort)
            files = await self.repo.list_files_of(conn, [v.id for v in videos])
        return total, [(v, playable_files(v, files.get(v.id, []))) for v in videos]

    # ---- deletion -------------------------------------------------------------------------

    async def rename(self, ident: VideoId, name: str) -> None:
        async with self.db.write() as conn:
            if not await self.repo.rename(conn, ident, name, self.now()):
                raise VideoNotFound()

    async def delete(self, ident: VideoId) -> None:
        """Cancel the video's unfinished jobs, drop its rows and queue its files for deletion."""
        assert self.jobs is not None
        details = await self.details(ident)
        for job in details.jobs:
            if job.state in CANCELLABLE_STATES:
                with contextlib.suppress(JobNotCancellable):
                    await self.jobs.cancel(job.uuid)  # an ancestor's cancel may have got it first
        video = details.video
        now = self.now()
        async with self.db.write() as conn:
            files = await self.repo.list_files(conn, video.id)
            storyboard = await StoryboardRepository().of_video(conn, video.id)
            captions = await CaptionRepository().of_video(conn, video.id)
            if not await self.repo.delete_video(conn, video.id):
                raise VideoNotFound()
            paths = [
                self.storage.relative(self.storage.web_dir / f.filename)
                for f in files
                if f.kind == "web"
            ]
            paths.append(self.storage.relative(self.storage.hls_dir(video.uuid)))
            if video.preview_filename:
                paths.append(
                    self.storage.relative(self.storage.preview_path(video.preview_filename))
                )
            if storyboard is not None:
                paths.append(
                    self.storage.relative(self.storage.storyboards_dir / storyboard.filename)
                )
            paths.append(self.storage.relative(self.storage.studio_dir(video.uuid)))
            paths += [
                self.storage.relative(self.storage.captions_dir / c.filename) for c in captions
            ]
            await self.repo.add_garbage(conn, paths, now)
        self.kick_janitor(0.0)

    # ---- master playlists -----------------------------------------------------------------

    def write_master(self, video_uuid: str, files: builtins.list[VideoFile]) -> None:
        hls = [f for f in files if f.kind == "hls"]
        if hls:
            self.storage.write_text(
                self.storage.hls_dir(video_uuid) / MASTER_PLAYLIST, master_playlist(hls)
            )

    async def rewrite_masters(self) -> int:
        """Rebuild every master playlist from the rows (start-up: a crash may have left one
        that lists a rendition whose transaction never committed)."""
        count = 0
        start = 0
        while True:
            total, page = await self.list(start, 100, "createdAt")
            for video, files in page:
                if any(f.kind == "hls" for f in files):
                    await asyncio.to_thread(self.write_master, video.uuid, files)
                    count += 1
            start += 100
            if start >= total:
                return count

    # ---- janitor --------------------------------------------------------------------------

    async def forget_later(self, paths: builtins.list[Path]) -> None:
        """Queue files for deletion after the grace period unless a row refers to them by then."""
        async with self.db.write() as conn:
            await self.repo.add_garbage(
                conn, [self.storage.relative(p) for p in paths], self.now() + ORPHAN_GRACE
            )

    def kick_janitor(self, delay_s: float = 1.0) -> None:
        """Sweep soon. Callers queue garbage inside a transaction that commits after they
        return, so the sweep waits a moment to find it committed."""
        asyncio.get_running_loop().call_later(delay_s, self._janitor_kick.set)

    async def sweep(self) -> int:
        """Delete due garbage that no file row refers to, and resumable uploads untouched
        since the expiry (with their bytes); returns how many garbage paths went."""
        now = self.now()
        upload_cutoff = now - timedelta(seconds=self.limits.resumable_expiry_s)
        # Listed before the rows are read: bytes written since have a newer time anyway.
        old_bytes = await asyncio.to_thread(
            self.storage.resumable_ids_older_than, upload_cutoff.timestamp()
        )
        async with self.db.read() as conn:
            due = await self.repo.due_garbage(conn, now)
            names = {Path(p).name for _, p in due}
            referenced = await self.repo.referenced_filenames(conn, names)
            stale_uploads = await self.repo.list_stale_uploads(conn, upload_cutoff)
            rowless_bytes = set(old_bytes) - await self.repo.known_uploads(conn, old_bytes)
        done: list[int] = []
        for garbage_id, path in due:
            if Path(path).name not in referenced:
                try:
                    await asyncio.to_thread(self.storage.remove, path)
                except (OSError, ValueError):
                    log.exception("could not delete %s", path)
                    continue
            done.append(garbage_id)
        if done:
            async with self.db.write() as conn:
                await self.repo.drop_garbage(conn, done)
        for upload_id in stale_uploads:
            lock = self._upload_locks.get(upload_id)
            if lock is None or not lock.locked():  # not while a chunk is coming in
                await self.cancel_upload(upload_id)
        for upload_id in rowless_bytes:  # a crash between a row's deletion and its file's
            with contextlib.suppress(FileNotFoundError):
                self.storage.resumable_path(upload_id).unlink()
        return len(done)

    async def run_janitor(self, interval_s: float = 30.0) -> None:
        """Sweep now, then whenever kicked or every `interval_s`; one bad pass is logged."""
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("media janitor pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._janitor_kick.wait(), timeout=interval_s)
            self._janitor_kick.clear()

    # ---- resumable uploads ----------------------------------------------------------------

    async def start_upload(
        self, user_id: int, *, size: int, filename: str, metadata: dict[str, Any]
    ) -> str:
        """Open a resumable upload of `size` bytes, if the user may upload that much.

        Raises:
            FileTooLarge, QuotaReached: over the size cap or over the user's quota.
        """
        (await self.limiter.allowance(user_id)).check(size)
        upload_id = secrets.token_hex(16)
        now = self.now()
        path = self.storage.resumable_path(upload_id)
        with disk_full_as_storage_full():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
        async with self.db.write() as conn:
            await self.repo.insert_upload(
                conn,
                {
                    "id": upload_id,
                    "user_id": user_id,
                    "size": size,
                    "filename": filename,
                    "metadata": metadata,
                    "created_at": now,
                    "updated_at": now,
                },
            )
        return upload_id

    async def get_upload(self, upload_id: str) -> dict[str, Any]:
        async with self.db.read() as conn:
            upload = await self.repo.get_upload(conn, upload_id)
        if upload is None:
            raise UploadNotFound()
        return upload

    async def touch_upload(self, upload_id: str) -> None:
        async with self.db.write() as conn:
            await self.repo.touch_upload(conn, upload_id, self.now())

    async def cancel_upload(self, upload_id: str) -> bool:
        self._upload_locks.pop(upload_id, None)
        async with self.db.write() as conn:
            deleted = await self.repo.delete_upload(conn, upload_id)
        with contextlib.suppress(FileNotFoundError):
            self.storage.resumable_path(upload_id).unlink()
        return deleted

    async def received_bytes(self, upload_id: str) -> int:
        path = self.storage.resumable_path(upload_id)
        return path.stat().st_size if path.exists() else 0

    async def write_chunk(
        self, upload_id: str, start: int, length: int, chunks: AsyncIterator[bytes]
    ) -> int:
        """Write a chunk at `start` (at most `length` bytes) and return the bytes held now.

        Whatever arrives before a dropped connection is kept: the client asks how much we have
        (`Content-Range: bytes */total`) and resumes from there. Chunks of one upload are
        written one at a time.

        Raises:
            ChunkTooLarge: more than `length` bytes came; the upload is dropped.
            StorageFull: the disk filled up; the upload is dropped with its bytes.
        """
        lock = self._upload_locks.setdefault(upload_id, asyncio.Lock())
        async with lock:
            path = self.storage.resumable_path(upload_id)
            received = path.stat().st_size if path.exists() else 0
            if start > received:
                return received  # a gap: the client must resume from what we have
            written = 0
            overrun = False
            try:
                # Plain writes of network-sized chunks to a local file: cheaper than a thread hop each.
                with (
                    disk_full_as_storage_full(),
                    open(path, "r+b" if path.exists() else "w+b") as handle,
                ):  # noqa: ASYNC230
                    handle.truncate(start)
                    handle.seek(start)
                    async for chunk in chunks:
                        overrun = len(chunk) > length - written
                        handle.write(chunk[: length - written])
                        # Flushed as it comes: bytes a dropped connection delivered are kept,
                        # and a status query sees them.
                        handle.flush()
                        written += min(len(chunk), length - written)
                        if overrun:
                            break
            except StorageFull:
                await self.cancel_upload(upload_id)  # half a chunk on a full disk helps nobody
                raise
            if overrun:
                await self.cancel_upload(upload_id)
                raise ChunkTooLarge()
            await self.touch_upload(upload_id)
            return start + written

    async def finish_upload(self, upload_id: str) -> Video:
        """All bytes are in: create the video (or refuse it) and forget the upload either way."""
        upload = await self.get_upload(upload_id)
        path = self.storage.resumable_path(upload_id)
        metadata = upload["metadata"]
        try:
            return await self.create(
                name=str(metadata.get("name") or Path(upload["filename"]).stem),
                media=path,
                original_filename=upload["filename"],
                owner_id=upload["user_id"],
            )
        finally:
            await self.cancel_upload(upload_id)

    # ---- jobs of a video ------------------------------------------------------------------

    def published(
        self, video_id: int, hooks: Sequence[Callable[[int], Awaitable[None]]] | None = None
    ) -> None:
        """Run the `after_publish` hooks (or `hooks`) in the background. Called from inside the
        transaction that publishes: each hook waits for the video's row (so for that commit)
        and must find the video published before it acts."""
        for hook in self.after_publish if hooks is None else hooks:
            task = asyncio.create_task(self._run_after_publish(hook, video_id))
            self._publish_tasks.add(task)
            task.add_done_callback(self._publish_tasks.discard)

    async def _run_after_publish(
        self, hook: Callable[[int], Awaitable[None]], video_id: int
    ) -> None:
        try:
            await hook(video_id)
        except Exception:
            log.exception("a job planned after the publication of video %d failed", video_id)

    async def stop_after_publish(self) -> None:
        """Cancel the hooks still running (shutdown)."""
        for task in list(self._publish_tasks):
            task.cancel()
        for task in list(self._publish_tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def add_jobs(
        self,
        video: Video,
        planned: Sequence[LadderJob],
        *,
        local: bool,
        generation: int | None = None,
    ) -> builtins.list[Job]:
        """Create jobs for a video besides its upload's ladder (what a job type's own creation
        plans: an edit, a storyboard …), linked to the video as the ladder's are. `local`: the
        instance's own workers run them and runners are never offered them. `generation`: the
        video generation they work for (the one players get unless said otherwise)."""
        assert self.jobs is not None, "attach the job service first"
        async with self.db.write() as conn:
            jobs = await self.jobs.repo.insert_many(
                conn, [j.spec for j in planned], [j.uuid for j in planned], self.now()
            )
            await self.repo.link_jobs(
                conn,
                video.id,
                [(job.id, j.required) for job, j in zip(jobs, planned, strict=True)],
                local=local,
                generation=video.generation if generation is None else generation,
            )
        if any(job.state is JobState.PENDING for job in jobs):
            if local:
                self.on_local_jobs()
            else:
                self.jobs.notifier.ping()
        return jobs

    # ---- video state ----------------------------------------------------------------------

    async def settle(self, job: Job) -> None:
        """Re-decide the state of the video of a job that just ended badly (or was cancelled).

        A job of the generation a studio edit is building decides that edit: once it cannot be
        built (a required rendition ERRORED) the edit is dropped whole — its files go, the video
        stays on the files it plays, published, with the reason as its error — and the edit's
        other jobs are cancelled. A job of an older generation decides nothing any more.
        """
        now = self.now()
        dropped: builtins.list[Job] = []
        async with self.db.write() as conn:
            video_id = await self.repo.video_of_job(conn, job.id)
            if video_id is None:
                return
            video = await self.repo.lock(conn, video_id)
            if video is None:
                return
            generation = await self.repo.generation_of_job(conn, job.id) or 0
            if generation > video.generation:
                dropped = await self._settle_edit(conn, video, generation, job, now)
            elif generation == video.generation and not await self.is_building(conn, video):
                states = await self.repo.job_states(conn, video_id, generation)
                decided = next_video_state(video.state, states)
                if decided is not video.state:
                    error = job.error if decided is VideoState.TRANSCODING_FAILED else None
                    await self.repo.set_state(
                        conn, video_id, video.state, decided, now, error=error
                    )
        assert self.jobs is not None
        for doomed in dropped:
            with contextlib.suppress(JobNotCancellable, VideoNotFound, NotFound):
                await self.jobs.cancel(doomed.uuid)

    async def _settle_edit(
        self, conn: AsyncConnection, video: Video, generation: int, job: Job, now: datetime
    ) -> builtins.list[Job]:
        """A job of an edit's new ladder ended badly: switch over, drop the edit, or wait."""
        if video.state is not VideoState.TO_TRANSCODE:
            return []  # dropped already (or still the studio job's to decide)
        states = await self.repo.job_states(conn, video.id, generation)
        decided = next_video_state(VideoState.TO_TRANSCODE, states)
        files = await self.repo.list_files(conn, video.id)
        if decided is VideoState.PUBLISHED:
            # Every required job ended, some cancelled: players switch to what was made.
            await self.switch_generation(conn, video, generation, files, now)
            return []
        if decided is not VideoState.TRANSCODING_FAILED:
            return []
        doomed = [f for f in files if f.generation == generation]
        removed = await self.repo.delete_files(conn, [f.id for f in doomed])
        await self.repo.add_garbage(conn, self.file_paths(video.uuid, removed), now)
        reason = f"The studio edit was dropped, its transcoding failed: {job.error or 'job ended'}"
        await self.repo.set_state(
            conn, video.id, VideoState.TO_TRANSCODE, VideoState.PUBLISHED, now, error=reason
        )
        log.warning("video %s: %s", video.uuid, reason)
        self.kick_janitor()
        return await self.repo.active_jobs_of_generation(conn, video.id, generation)

    async def is_building(self, conn: AsyncConnection, video: Video) -> bool:
        """A studio edit is under way: its state belongs to the edit, not to the current files."""
        return video.state in (VideoState.TO_EDIT, VideoState.TO_TRANSCODE) and (
            await self.repo.newest_job_generation(conn, video.id) > video.generation
        )

    async def switch_generation(
        self,
        conn: AsyncConnection,
        video: Video,
        generation: int,
        files: builtins.list[VideoFile],
        now: datetime,
    ) -> None:
        """Players move to `generation`'s files and the older ones go (run under the video's
        row lock, in the transaction that completes the edit's last required job). The old
        files are queued for deletion after the janitor's grace, so a player mid-stream on
        them is not cut off; the master playlist is rewritten in place."""
        new = [f for f in files if f.generation == generation]
        removed = await self.repo.delete_files(
            conn, [f.id for f in files if f.generation < generation]
        )
        await self.repo.add_garbage(conn, self.file_paths(video.uuid, removed), now)
        await self.repo.set_generation(conn, video.id, generation)
        best = max_quality_file(new)
        if best is not None and best.duration_s:
            await self.repo.set_duration(conn, video.id, best.duration_s)
        if video.state is not VideoState.PUBLISHED:
            await self.repo.set_state(conn, video.id, video.state, VideoState.PUBLISHED, now)
        master = self.storage.hls_dir(video.uuid) / MASTER_PLAYLIST
        if any(f.kind == "hls" for f in new):
            await asyncio.to_thread(self.write_master, video.uuid, new)
        else:
            await asyncio.to_thread(master.unlink, True)
        self.kick_janitor()
        # The storyboard, the captions and the like follow the new content.
        self.published(video.id)
        self.published(video.id, self.after_edit)

    def file_paths(self, video_uuid: str, files: builtins.list[VideoFile]) -> builtins.list[str]:
        """Media-tree paths of files (and their HLS playlists), as garbage rows take them."""
        paths = []
        for f in files:
            paths.append(self.storage.relative(self.storage.file_path(video_uuid, f)))
            playlist = self.storage.playlist_path(video_uuid, f)
            if playlist is not None:
                paths.append(self.storage.relative(playlist))
        return paths

    def jobs_added(self, *, local: bool) -> None:
        """Jobs were added in a transaction that commits after the caller returns: tell the
        runners (the ping is debounced past the commit) or, a moment later, the local workers."""
        assert self.jobs is not None
        if local:
            asyncio.get_running_loop().call_later(0.5, self.on_local_jobs)
        else:
            self.jobs.notifier.ping()

    async def job_is_local(self, job_id: int) -> bool:
        async with self.db.read() as conn:
            return await self.repo.is_local_job(conn, job_id)
