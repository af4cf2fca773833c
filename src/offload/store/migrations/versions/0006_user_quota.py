"""user quota: PeerTube's videoQuota / videoQuotaDaily on each user

Revision ID: 0006_quota
Revises: 0005_resolution
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["downgrade", "upgrade"]

revision = "0006_quota"
down_revision = "0005_resolution"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("video_quota", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("video_quota_daily", sa.BigInteger(), nullable=True))
    # Existing users keep uploading as before; root is unlimited, as PeerTube's.
    users = sa.table(
        "users",
        sa.column("video_quota", sa.BigInteger),
        sa.column("video_quota_daily", sa.BigInteger),
    )
    op.execute(sa.update(users).values(video_quota=-1, video_quota_daily=-1))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("video_quota_daily")
        batch_op.drop_column("video_quota")
