"""video owner: who uploaded each video, for PeerTube's per-uploader job priorities

Revision ID: 0003_video_owner
Revises: 0002_media
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["downgrade", "upgrade"]

revision = "0003_video_owner"
down_revision = "0002_media"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite can only add a foreign key by rebuilding the table.
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_videos_owner_id_users"),
            "users",
            ["owner_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(
            "ix_videos_owner_created_at", ["owner_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_index("ix_videos_owner_created_at")
        batch_op.drop_constraint(batch_op.f("fk_videos_owner_id_users"), type_="foreignkey")
        batch_op.drop_column("owner_id")
