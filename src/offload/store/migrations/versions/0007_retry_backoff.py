"""retry backoff: a PENDING job that failed is not offered before `not_before`

Revision ID: 0007_backoff
Revises: 0006_quota
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from offload.store.tables import UTCDateTime

__all__ = ["downgrade", "upgrade"]

revision = "0007_backoff"
down_revision = "0006_quota"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing jobs get NULL: offered at once, as before.
    with op.batch_alter_table("runner_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("not_before", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runner_jobs", schema=None) as batch_op:
        batch_op.drop_column("not_before")
