"""Shared fixtures: real instances on loopback over SQLite files and a throwaway PostgreSQL."""

from __future__ import annotations

import asyncio
import faulthandler
import os
import shutil
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# The developer's shell must not leak settings into tests.
# OFFLOAD_REQUIRE_* and OFFLOAD_TEST_* are the suite's own switches and stay.
for _name in [
    n
    for n in os.environ
    if n.startswith("OFFLOAD_") and not n.startswith(("OFFLOAD_REQUIRE_", "OFFLOAD_TEST_"))
]:
    del os.environ[_name]

from offload.store.database import Database  # noqa: E402
from tests.support import PgCluster, RunningInstance, find_pg_bin, pg_cluster, start_instance  # noqa: E402

REQUIRE_POSTGRES = os.environ.get("OFFLOAD_REQUIRE_POSTGRES") == "1"
#: The whole suite takes ~7 min on 2 cores; past this, something hangs where pytest-timeout's
#: one SIGALRM per test cannot reach (a teardown after the alarm, a C call holding the GIL).
SESSION_DEADLINE_S = float(os.environ.get("OFFLOAD_TEST_SESSION_DEADLINE_S", "2400"))

# Fixture modules shared by several test files (media clips, conformance clients, runner homes).
pytest_plugins = ["tests.clips", "tests.conformance", "tests.runner_home"]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Arm the session watchdog: a hung run ends with every thread's stack instead of eating CI's budget."""
    finished = threading.Event()
    session.config.stash[_SESSION_FINISHED] = finished

    def watch() -> None:
        if finished.wait(SESSION_DEADLINE_S):
            return
        # pytest captures fd 2 during a test; hand it back so the stacks reach the CI log.
        capture = session.config.pluginmanager.getplugin("capturemanager")
        if capture is not None:
            capture.suspend_global_capture(in_=False)
        sys.stderr.write(
            f"\n\n*** test session still running after {SESSION_DEADLINE_S:.0f} s: stacks follow, then exit 3\n"
        )
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        os._exit(3)

    threading.Thread(target=watch, name="session-watchdog", daemon=True).start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    finished = session.config.stash.get(_SESSION_FINISHED, None)
    if finished is not None:
        finished.set()


_SESSION_FINISHED = pytest.StashKey[threading.Event]()


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
        # Later instances get their own SQLite file unless told to share (`database_url=…`).
        url = overrides.pop("database_url", database_url if not started else None)
        inst = start_instance(data_dir, url, **overrides)
        started.append(inst)
        return inst

    yield make
    for inst in started:
        inst.stop()


@pytest.fixture
def instance(instance_factory: Callable[..., RunningInstance]) -> RunningInstance:
    return instance_factory()
