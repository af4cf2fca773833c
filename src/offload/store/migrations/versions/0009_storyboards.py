"""video storyboards: one sprite sheet per video and its geometry

Revision ID: 0009_storyboards
Revises: 0008_attempts_ended_at
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from offload.store.tables import UTCDateTime

__all__ = ["downgrade", "upgrade"]

revision = "0009_storyboards"
down_revision = "0008_attempts_ended_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "video_storyboards",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("total_width", sa.Integer(), nullable=False),
        sa.Column("total_height", sa.Integer(), nullable=False),
        sa.Column("sprite_width", sa.Integer(), nullable=False),
        sa.Column("sprite_height", sa.Integer(), nullable=False),
        sa.Column("sprite_duration_s", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_video_storyboards_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_video_storyboards")),
        sa.UniqueConstraint("filename", name=op.f("uq_video_storyboards_filename")),
        sa.UniqueConstraint("video_id", name=op.f("uq_video_storyboards_video_id")),
    )


def downgrade() -> None:
    op.drop_table("video_storyboards")
