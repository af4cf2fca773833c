"""job resolution: the output height of each job, for runners that declare a maximum

Revision ID: 0005_resolution
Revises: 0004_processes
Create Date: 2026-11-28
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

from offload.domain.jobs import output_resolution

__all__ = ["downgrade", "upgrade"]

revision = "0005_resolution"
down_revision = "0004_processes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runner_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolution", sa.Integer(), nullable=True))
    # Jobs still waiting to run get their resolution; finished ones are never claimed again.
    jobs = sa.table(
        "runner_jobs",
        sa.column("id", sa.Integer),
        sa.column("state", sa.Integer),
        sa.column("payload", sa.JSON),
        sa.column("resolution", sa.Integer),
    )
    bind = op.get_bind()
    waiting = bind.execute(
        sa.select(jobs.c.id, jobs.c.payload).where(jobs.c.state.in_([1, 2, 5]))
    ).all()
    for job_id, payload in waiting:
        decoded: Any = json.loads(payload) if isinstance(payload, str) else payload
        resolution = output_resolution(decoded) if isinstance(decoded, dict) else None
        if resolution is not None:
            bind.execute(sa.update(jobs).where(jobs.c.id == job_id).values(resolution=resolution))


def downgrade() -> None:
    with op.batch_alter_table("runner_jobs", schema=None) as batch_op:
        batch_op.drop_column("resolution")
