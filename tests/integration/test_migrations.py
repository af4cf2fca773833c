"""Alembic migrations build exactly the schema `offload.store.tables` declares, on both DBs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from offload.store.database import Database, alembic_config
from offload.store.tables import metadata
from tests.support import PgCluster


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


async def test_job_resolutions_are_filled_in_for_waiting_jobs(
    tmp_path: Path, pg: PgCluster | None
) -> None:
    """Migration 0005 copies `payload.output.resolution` of jobs still to run into the new
    column (finished jobs are never claimed again), on both databases."""
    urls = [f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"]
    if pg is not None:
        urls.append(pg.url(pg.create_database()))
    for url in urls:
        db = Database(url)
        try:
            async with db.engine.begin() as conn:
                await conn.run_sync(_upgrade_to, "0004_processes")
                now = datetime.now(UTC)
                for uuid, state, resolution in [("a", 1, 720), ("b", 5, 480), ("c", 3, 1080)]:
                    await conn.execute(
                        sa.text(
                            "INSERT INTO runner_jobs (uuid, type, state, priority, failures, payload, private_payload, attempt, created_at, updated_at) "
                            "VALUES (:uuid, 'vod-web-video-transcoding', :state, 100, 0, :payload, '{}', 0, :now, :now)"
                        ),
                        {
                            "uuid": uuid,
                            "state": state,
                            "payload": json.dumps(
                                {"output": {"resolution": resolution, "fps": 25}}
                            ),
                            "now": now,
                        },
                    )
            await db.upgrade()
            async with db.read() as conn:
                rows = dict(
                    (await conn.execute(sa.text("SELECT uuid, resolution FROM runner_jobs"))).all()
                )
        finally:
            await db.dispose()

        assert {"a": 720, "b": 480, "c": None} == rows, url


def _upgrade_to(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)
