"""video captions: one WebVTT file per video and language

Revision ID: 0011_captions
Revises: 0010_studio
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from offload.store.tables import UTCDateTime

__all__ = ["downgrade", "upgrade"]

revision = "0011_captions"
down_revision = "0010_studio"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "video_captions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("automatically_generated", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_video_captions_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_video_captions")),
        sa.UniqueConstraint("filename", name=op.f("uq_video_captions_filename")),
        sa.UniqueConstraint(
            "video_id", "language", name=op.f("uq_video_captions_video_id_language")
        ),
    )


def downgrade() -> None:
    op.drop_table("video_captions")
