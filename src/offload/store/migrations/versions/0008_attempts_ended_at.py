"""attempts by end time: the dashboard's recent failures and the retention's pruning

Revision ID: 0008_attempts_ended_at
Revises: 0007_backoff
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

__all__ = ["downgrade", "upgrade"]

revision = "0008_attempts_ended_at"
down_revision = "0007_backoff"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_job_attempts_ended_at", "job_attempts", ["ended_at"])


def downgrade() -> None:
    op.drop_index("ix_job_attempts_ended_at", table_name="job_attempts")
