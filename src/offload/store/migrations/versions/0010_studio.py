"""studio edits: file generations (the files players get vs the ones an edit is building)

Revision ID: 0010_studio
Revises: 0009_storyboards
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["downgrade", "upgrade"]

revision = "0010_studio"
down_revision = "0009_storyboards"
branch_labels = None
depends_on = None

_TABLES = ("videos", "video_files", "video_jobs")


def upgrade() -> None:
    for table in _TABLES:
        op.add_column(
            table, sa.Column("generation", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("generation")
