"""What runner polls cost the database, on both backends: a poll that finds nothing writes
nothing (so it answers while a writer holds the lock), and one runner's contact is written
at most once per interval however many of its calls arrive together."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import sqlalchemy as sa

from offload.http.wire import iso
from offload.store.database import Database
from tests.clock import ManualClock
from tests.ladder import register_runner
from tests.support import RunningInstance, wait_until

CLAIM = "/api/v1/runners/jobs/claim"
REQUEST = "/api/v1/runners/jobs/request"
#: An empty poll answers well within this while a writer holds the lock; waiting for the
#: lock instead takes until the writer lets go (the test's client gives up first).
QUICK_S = 3.0


async def _hold_write_lock(db: Database, held: asyncio.Event, release: asyncio.Event) -> None:
    """An ordinary write transaction of the instance, held open: SQLite's file write lock
    (taken by the first write) and the in-process writer's turn; on PostgreSQL a table lock
    that row-locking reads of `runner_jobs` wait for, while plain reads do not."""
    async with db.write() as conn:
        if db.is_sqlite:
            await conn.execute(sa.text("UPDATE runner_jobs SET priority = priority WHERE 1 = 0"))
        else:
            await conn.execute(sa.text("LOCK TABLE runner_jobs IN EXCLUSIVE MODE"))
        held.set()
        await release.wait()


@contextmanager
def write_lock_held(instance: RunningInstance) -> Iterator[None]:
    assert instance.loop is not None
    held, release = instance.call(_events)
    holder = asyncio.run_coroutine_threadsafe(
        _hold_write_lock(instance.services.db, held, release), instance.loop
    )
    wait_until(held.is_set, message="write lock taken")
    try:
        yield
    finally:
        instance.loop.call_soon_threadsafe(release.set)
        holder.result(timeout=30)


async def _events() -> tuple[asyncio.Event, asyncio.Event]:
    return asyncio.Event(), asyncio.Event()


def test_empty_polls_answer_while_a_writer_holds_the_lock(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """With a write transaction open on the database, an empty claim and an empty request
    still answer 200 at once: finding nothing takes no write lock."""
    instance = instance_factory(last_contact_interval_s=3600.0, sqlite_busy_timeout_s=10.0)
    token = register_runner(instance)["runnerToken"]

    with write_lock_held(instance), httpx.Client(base_url=instance.url, timeout=QUICK_S) as c:
        started = time.monotonic()
        claimed = c.post(CLAIM, json={"runnerToken": token, "maxJobs": 5})
        requested = c.post(REQUEST, json={"runnerToken": token})
        elapsed_s = time.monotonic() - started

    assert (200, []) == (claimed.status_code, claimed.json()["jobs"])
    assert (200, []) == (requested.status_code, requested.json()["availableJobs"])
    assert elapsed_s < QUICK_S


def test_concurrent_calls_of_one_runner_write_its_contact_once(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """20 polls of one runner at once, its contact due: one UPDATE of `runners`, not one per
    call (each call read the same stale row)."""
    clock = ManualClock()
    instance = instance_factory(now=clock, last_contact_interval_s=30.0)
    token = register_runner(instance)["runnerToken"]
    clock.advance(60)
    statements: list[str] = []

    def count_runner_updates(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE RUNNERS"):
            statements.append(statement)

    engine = instance.services.db.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", count_runner_updates)
    try:
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lambda _: _poll(instance, token), range(20)))
    finally:
        sa.event.remove(engine, "before_cursor_execute", count_runner_updates)

    assert [200] * 20 == answers
    assert 1 == len(statements), statements
    with instance.admin() as c:
        [listed] = c.get("/api/v1/runners").json()["data"]
    assert iso(clock()) == listed["lastContact"]


def _poll(instance: RunningInstance, token: str) -> int:
    with instance.client() as c:
        return c.post(REQUEST, json={"runnerToken": token}).status_code
