"""What a crash may leave in the media tree, read from the disk and the database side by side."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from offload.media.playlists import MASTER_PLAYLIST
from offload.media.storage import MediaStorage
from offload.store.database import Database
from offload.store.tables import media_garbage, video_files, videos

__all__ = ["MediaTree", "media_tree"]


@dataclass(frozen=True)
class MediaTree:
    """Paths relative to the data dir: playable files on disk (the master playlists, rebuilt
    from the rows, aside), those the file rows name, and those queued for deletion."""

    on_disk: set[str]
    in_rows: set[str]
    queued: set[str]
    #: (kind, resolution) of every file row, one entry per row.
    renditions: list[tuple[str, int]]

    @property
    def consistent(self) -> bool:
        """Every row's file is there, and every file no row names is queued for deletion:
        nothing is half published."""
        return self.in_rows <= self.on_disk and self.on_disk - self.in_rows <= self.queued


def media_tree(data_dir: Path, database_url: str) -> MediaTree:
    storage = MediaStorage(data_dir)
    on_disk = {
        storage.relative(path)
        for root in (storage.web_dir, storage.hls_root)
        if root.exists()
        for path in root.rglob("*")
        if path.is_file() and path.name != MASTER_PLAYLIST
    }

    async def read() -> tuple[set[str], set[str], list[tuple[str, int]]]:
        db = Database(database_url)
        try:
            async with db.read() as conn:
                rows = (
                    await conn.execute(
                        sa.select(
                            videos.c.uuid,
                            video_files.c.kind,
                            video_files.c.filename,
                            video_files.c.playlist_filename,
                            video_files.c.resolution,
                        ).select_from(
                            video_files.join(videos, videos.c.id == video_files.c.video_id)
                        )
                    )
                ).all()
                queued = set((await conn.execute(sa.select(media_garbage.c.path))).scalars())
        finally:
            await db.dispose()
        in_rows: set[str] = set()
        for row in rows:
            directory = storage.hls_dir(row.uuid) if row.kind == "hls" else storage.web_dir
            in_rows |= {
                storage.relative(directory / name)
                for name in (row.filename, row.playlist_filename)
                if name
            }
        return in_rows, queued, sorted((row.kind, row.resolution) for row in rows)

    in_rows, queued, renditions = asyncio.run(read())
    return MediaTree(on_disk, in_rows, queued, renditions)
