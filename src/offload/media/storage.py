"""Where media files live under the data directory, and the only ways they are written.

```
<data>/web-videos/<file>                               web videos (and uploads until optimized)
<data>/streaming-playlists/hls/<video uuid>/<file>     HLS renditions, resolution + master playlists
<data>/previews/<file>                                 preview images
<data>/tmp/uploads/ , <data>/tmp/resumable/<id>        uploads in flight (same filesystem)
```

Files appear only through `os.replace` of a complete temp file in the same directory, so a
reader or a crash never sees half a file; names are unique per file, so a replaced rendition
is a new name and the old one is deleted later (see `media_garbage`). A disk that fills up is
the domain's `StorageFull` (see `disk_full_as_storage_full`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import struct
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from offload.domain.errors import StorageFull
from offload.domain.videos import VideoFile

__all__ = [
    "MIME_TYPES",
    "MediaStorage",
    "default_preview_png",
    "disk_full_as_storage_full",
    "is_disk_full",
    "mime_type",
]

log = logging.getLogger(__name__)

#: errno values of a full disk (or of a full disk quota).
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})

#: Content types of what we serve (the stdlib's table lacks HLS and differs across systems).
MIME_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".m4a": "audio/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".ogv": "video/ogg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".vtt": "text/vtt",
    ".flac": "audio/flac",
    ".aac": "audio/aac",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".json": "application/json",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}


def mime_type(name: str) -> str:
    return MIME_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc`, or an error it was raised from or during, is a disk out of space."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError) and current.errno in _DISK_FULL:
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


@contextlib.contextmanager
def disk_full_as_storage_full() -> Iterator[None]:
    """Turn a disk out of space into `StorageFull`, also when another error carries it (the
    multipart parser reports a failed write as a bad body)."""
    try:
        yield
    except StorageFull:
        raise
    except Exception as exc:
        if is_disk_full(exc):
            # The client gets a 507; the operator must hear of it, or nothing will change.
            log.error("out of disk space while storing an upload: %s", exc)
            raise StorageFull() from exc
        raise


class MediaStorage:
    """Paths of the media tree and atomic writes into it."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir.resolve()
        self.web_dir = self.root / "web-videos"
        self.hls_root = self.root / "streaming-playlists" / "hls"
        self.previews_dir = self.root / "previews"
        #: Storyboard sprite sheets, one per video, by generated file name.
        self.storyboards_dir = self.root / "storyboards"
        #: Studio task files (intros, outros, watermarks) of the edits still to run, per video.
        self.studio_root = self.root / "studio"
        #: WebVTT captions, by generated file name (served at PeerTube's
        #: `/lazy-static/video-captions/`).
        self.captions_dir = self.root / "captions"
        self.tmp_dir = self.root / "tmp"
        #: Where multipart uploads (ours and runners') stream their file parts.
        self.upload_tmp_dir = self.tmp_dir / "uploads"
        self.resumable_dir = self.tmp_dir / "resumable"

    def ensure_dirs(self) -> None:
        for d in (
            self.web_dir,
            self.hls_root,
            self.previews_dir,
            self.storyboards_dir,
            self.captions_dir,
            self.upload_tmp_dir,
            self.resumable_dir,
        ):
            d.mkdir(parents=True, exist_ok=True)

    # ---- paths ----------------------------------------------------------------------------

    def hls_dir(self, video_uuid: str) -> Path:
        return self.hls_root / video_uuid

    def file_path(self, video_uuid: str, file: VideoFile) -> Path:
        if file.kind == "hls":
            return self.hls_dir(video_uuid) / file.filename
        return self.web_dir / file.filename

    def playlist_path(self, video_uuid: str, file: VideoFile) -> Path | None:
        return self.hls_dir(video_uuid) / file.playlist_filename if file.playlist_filename else None

    def studio_dir(self, video_uuid: str) -> Path:
        return self.studio_root / video_uuid

    def preview_path(self, filename: str) -> Path:
        return self.previews_dir / filename

    def resumable_path(self, upload_id: str) -> Path:
        return self.resumable_dir / upload_id

    def resumable_ids_older_than(self, cutoff: float) -> list[str]:
        """Resumable uploads whose bytes were last written before `cutoff` (POSIX time)."""
        if not self.resumable_dir.is_dir():
            return []
        ids: list[str] = []
        for entry in os.scandir(self.resumable_dir):
            with contextlib.suppress(FileNotFoundError):
                if entry.is_file() and entry.stat().st_mtime < cutoff:
                    ids.append(entry.name)
        return ids

    def relative(self, path: Path) -> str:
        """A path as stored in the database: relative to the data dir, so the dir can move."""
        return str(path.resolve().relative_to(self.root))

    def absolute(self, relative: str) -> Path:
        path = (self.root / relative).resolve()
        if self.root not in path.parents:
            raise ValueError(f"{relative!r} is outside the data directory")
        return path

    # ---- writes ---------------------------------------------------------------------------

    def place(self, source: Path, target: Path) -> None:
        """Move a finished file into place atomically (copy + rename across filesystems)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, target)
            return
        except OSError:
            pass  # another filesystem: copy next to the target first
        fd, tmp = tempfile.mkstemp(prefix=".incoming-", dir=target.parent)
        os.close(fd)
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(FileNotFoundError):
            source.unlink()

    def write_text(self, target: Path, text: str) -> None:
        """Replace a text file atomically: readers see the old or the new playlist, never half."""
        self.write_bytes(target, text.encode("utf-8"))

    def write_bytes(self, target: Path, data: bytes) -> None:
        """Replace a file atomically with `data` (written, flushed, synced, then renamed)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".incoming-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def remove(self, relative: str) -> None:
        """Delete a file or directory of the media tree; a missing one is already gone."""
        path = self.absolute(relative)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def default_preview_png(
    width: int = 850, height: int = 480, rgb: tuple[int, int, int] = (24, 24, 32)
) -> bytes:
    """A plain dark PNG at PeerTube's preview size: the preview of an audio upload that came
    without one (PeerTube's runner merges at the picture's size: 480p)."""
    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
