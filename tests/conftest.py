"""Shared fixtures: real instances on loopback over SQLite files and a throwaway PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# The developer's shell must not leak settings into tests.
for _name in [n for n in os.environ if n.startswith("OFFLOAD_") and not n.startswith("OFFLOAD_REQUIRE_")]:
    del os.environ[_name]

from offload.store.database import Database  # noqa: E402
from tests.support import PgCluster, RunningInstance, find_pg_bin, pg_cluster, start_instance  # noqa: E402

REQUIRE_POSTGRES = os.environ.get("OFFLOAD_REQUIRE_POSTGRES") == "1"

# Fixture modules shared by several test files (media clips, conformance clients).
pytest_plugins = ["tests.clips", "tests.conformance"]


@pytest.fixture(scope="session")
def pg() -> Iterator[PgCluster | None]:
    """A throwaway PostgreSQL cluster with a migrated template database, or None."""
    if find_pg_bin() is None:
        message = "PostgreSQL binaries (initdb/pg_ctl) not found: PostgreSQL tests SKIPPED"
        if REQUIRE_POSTGRES:
            pytest.fail(message + " but OFFLOAD_REQUIRE_POSTGRES=1")
        warnings.warn(message, stacklevel=1)
        yield None
        return
    with pg_cluster() as cluster:
        cluster.psql('CREATE DATABASE "offload_template"')

        async def migrate() -> None:
            db = Database(cluster.url("offload_template"))
            await db.upgrade()
            await db.dispose()

        asyncio.run(migrate())
        yield cluster


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating every time costs ~100 ms)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "offload.db"

    async def migrate() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        await db.upgrade()
        await db.dispose()

    asyncio.run(migrate())
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test runs once on a fresh SQLite file and once on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        target = tmp_path / "offload.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite+aiosqlite:///{target}"
    cluster: PgCluster | None = request.getfixturevalue("pg")
    if cluster is None:
        pytest.skip("PostgreSQL not available (set OFFLOAD_REQUIRE_POSTGRES=1 to make this fail)")
    return cluster.url(cluster.create_database(template="offload_template"))


@pytest.fixture
def instance_factory(tmp_path: Path, database_url: str) -> Iterator[Callable[..., RunningInstance]]:
    started: list[RunningInstance] = []

    def make(**overrides: Any) -> RunningInstance:
        data_dir = tmp_path / f"data{len(started)}"
        inst = start_instance(data_dir, database_url if not started else None, **overrides)
        started.append(inst)
        return inst

    yield make
    for inst in started:
        inst.stop()


@pytest.fixture
def instance(instance_factory: Callable[..., RunningInstance]) -> RunningInstance:
    return instance_factory()
