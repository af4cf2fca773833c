"""Queries on video storyboards (one sprite sheet per video)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from offload.store.tables import video_storyboards

__all__ = ["Storyboard", "StoryboardRepository"]


@dataclass(frozen=True, slots=True)
class Storyboard:
    """A stored sprite sheet and its geometry (PeerTube's `StoryboardModel`)."""

    video_id: int
    filename: str
    total_width: int
    total_height: int
    sprite_width: int
    sprite_height: int
    sprite_duration_s: int


class StoryboardRepository:
    async def of_video(self, conn: AsyncConnection, video_id: int) -> Storyboard | None:
        row = (
            await conn.execute(
                sa.select(video_storyboards).where(video_storyboards.c.video_id == video_id)
            )
        ).first()
        if row is None:
            return None
        return Storyboard(
            row.video_id,
            row.filename,
            row.total_width,
            row.total_height,
            row.sprite_width,
            row.sprite_height,
            row.sprite_duration_s,
        )

    async def replace(self, conn: AsyncConnection, board: Storyboard, now: datetime) -> str | None:
        """Make `board` the video's storyboard; the filename of the one it replaces, if any."""
        old = (
            await conn.execute(
                sa.delete(video_storyboards)
                .where(video_storyboards.c.video_id == board.video_id)
                .returning(video_storyboards.c.filename)
            )
        ).scalar()
        await conn.execute(
            sa.insert(video_storyboards).values(
                video_id=board.video_id,
                filename=board.filename,
                total_width=board.total_width,
                total_height=board.total_height,
                sprite_width=board.sprite_width,
                sprite_height=board.sprite_height,
                sprite_duration_s=board.sprite_duration_s,
                created_at=now,
            )
        )
        return old
