"""instance processes: which process is completing a job, and which processes are alive

Revision ID: 0004_processes
Revises: 0003_video_owner
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from offload.store.tables import UTCDateTime

__all__ = ["downgrade", "upgrade"]

revision = "0004_processes"
down_revision = "0003_video_owner"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instance_processes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instance_processes")),
    )
    with op.batch_alter_table("runner_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("completing_by", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runner_jobs", schema=None) as batch_op:
        batch_op.drop_column("completing_by")
    op.drop_table("instance_processes")
