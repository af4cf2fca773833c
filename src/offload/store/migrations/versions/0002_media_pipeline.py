"""media pipeline: videos, their files and jobs, resumable uploads, files awaiting deletion

Revision ID: 0002_media
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from offload.store.tables import UTCDateTime

__all__ = ["downgrade", "upgrade"]

revision = "0002_media"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_garbage",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_garbage")),
    )
    with op.batch_alter_table("media_garbage", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_media_garbage_not_before"), ["not_before"], unique=False
        )

    op.create_table(
        "videos",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("state", sa.SmallInteger(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("has_video", sa.Boolean(), nullable=False),
        sa.Column("has_audio", sa.Boolean(), nullable=False),
        sa.Column("input_resolution", sa.Integer(), nullable=False),
        sa.Column("input_fps", sa.Float(), nullable=False),
        sa.Column("preview_filename", sa.String(length=200), nullable=True),
        sa.Column("error", sa.String(length=5000), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_videos")),
        sa.UniqueConstraint("uuid", name=op.f("uq_videos_uuid")),
    )
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.create_index("ix_videos_created_at", ["created_at"], unique=False)

    op.create_table(
        "video_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("playlist_filename", sa.String(length=200), nullable=True),
        sa.Column("resolution", sa.Integer(), nullable=False),
        sa.Column("fps", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("bandwidth", sa.BigInteger(), nullable=False),
        sa.Column("codecs", sa.String(length=200), nullable=False),
        sa.Column("has_video", sa.Boolean(), nullable=False),
        sa.Column("has_audio", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_video_files_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_video_files")),
        sa.UniqueConstraint("filename", name=op.f("uq_video_files_filename")),
    )
    with op.batch_alter_table("video_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_video_files_video_id"), ["video_id"], unique=False)

    op.create_table(
        "video_uploads",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_video_uploads_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_video_uploads")),
    )
    with op.batch_alter_table("video_uploads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_video_uploads_user_id"), ["user_id"], unique=False)

    op.create_table(
        "video_jobs",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("local", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["runner_jobs.id"],
            name=op.f("fk_video_jobs_job_id_runner_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_video_jobs_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_video_jobs")),
    )
    with op.batch_alter_table("video_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_video_jobs_video_id"), ["video_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("video_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_video_jobs_video_id"))

    op.drop_table("video_jobs")
    with op.batch_alter_table("video_uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_video_uploads_user_id"))

    op.drop_table("video_uploads")
    with op.batch_alter_table("video_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_video_files_video_id"))

    op.drop_table("video_files")
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_index("ix_videos_created_at")

    op.drop_table("videos")
    with op.batch_alter_table("media_garbage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_media_garbage_not_before"))

    op.drop_table("media_garbage")
