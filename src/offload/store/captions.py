"""Queries on video captions (one WebVTT file per video and language)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from offload.store.tables import video_captions

__all__ = ["Caption", "CaptionRepository"]


@dataclass(frozen=True, slots=True)
class Caption:
    """A stored caption (PeerTube's `VideoCaptionModel`)."""

    video_id: int
    language: str
    filename: str
    automatically_generated: bool
    updated_at: datetime


def _caption(row: sa.Row[tuple[object, ...]]) -> Caption:
    return Caption(
        row.video_id, row.language, row.filename, row.automatically_generated, row.updated_at
    )


class CaptionRepository:
    async def of_video(self, conn: AsyncConnection, video_id: int) -> list[Caption]:
        """The video's captions, by language code."""
        rows = (
            await conn.execute(
                sa.select(video_captions)
                .where(video_captions.c.video_id == video_id)
                .order_by(video_captions.c.language)
            )
        ).all()
        return [_caption(r) for r in rows]

    async def replace(self, conn: AsyncConnection, caption: Caption) -> str | None:
        """Make `caption` the video's caption in its language; the filename of the one it
        replaces, if any."""
        old = (
            await conn.execute(
                sa.delete(video_captions)
                .where(
                    video_captions.c.video_id == caption.video_id,
                    video_captions.c.language == caption.language,
                )
                .returning(video_captions.c.filename)
            )
        ).scalar()
        await conn.execute(
            sa.insert(video_captions).values(
                video_id=caption.video_id,
                language=caption.language,
                filename=caption.filename,
                automatically_generated=caption.automatically_generated,
                created_at=caption.updated_at,
                updated_at=caption.updated_at,
            )
        )
        return old
