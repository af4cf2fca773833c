"""Alembic migrations build exactly the schema `offload.store.tables` declares, on both DBs."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from offload.store.database import Database
from offload.store.tables import metadata


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_upgrade_head_matches_the_declared_tables(database_url: str) -> None:
    """`alembic upgrade head` leaves nothing for autogenerate to add, drop or alter."""
    db = Database(database_url)
    try:
        await db.upgrade()
        await db.upgrade()  # a second run is a no-op
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(_diff)
    finally:
        await db.dispose()

    assert [] == diff
