"""The database goes away under running instances: calls that need it answer 503 (problem JSON,
`Retry-After`), never 500, and everything resumes by itself once it is back."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from offload.domain.jobs import JobState
from tests.jobs import force_completing, watchdog_passes
from tests.ladder import enqueue_upload_ladder, register_runner
from tests.sockets import runner_socket
from tests.support import PgCluster, RunningInstance, pg_cluster, start_instance, wait_until

UNAVAILABLE = "Database unavailable, try again later"
#: Liveness locks are believed 3 s after a process (re)connects: longer than any process takes
#: to take its own lock again once PostgreSQL is back.
WATCHING: dict[str, Any] = {"watchdog_interval_s": 0.2, "process_lock_grace_s": 3.0}


def assert_unavailable(answer: httpx.Response) -> None:
    assert (503, "application/problem+json") == (
        answer.status_code,
        answer.headers["content-type"],
    ), answer.text
    assert {"status": 503, "detail": UNAVAILABLE} == {
        k: answer.json()[k] for k in ("status", "detail")
    }
    assert int(answer.headers["retry-after"]) > 0


def runner_update(
    instance: RunningInstance, job_uuid: str, runner_token: str, job_token: str
) -> httpx.Response:
    fields = {"runnerToken": runner_token, "jobToken": job_token, "progress": "10"}
    with instance.client() as c:
        return c.post(
            f"/api/v1/runners/jobs/{job_uuid}/update",
            files=[(k, (None, v.encode())) for k, v in fields.items()],
        )


def accepted(instance: RunningInstance, job_uuid: str, runner_token: str) -> str:
    with instance.client() as c:
        answer = c.post(
            f"/api/v1/runners/jobs/{job_uuid}/accept", json={"runnerToken": runner_token}
        )
    assert 200 == answer.status_code, answer.text
    return str(answer.json()["job"]["jobToken"])


# ---- SQLite ---------------------------------------------------------------------------------


def test_a_sqlite_file_locked_past_the_busy_timeout_answers_503(tmp_path: Path) -> None:
    """Another process holds the SQLite write lock past the busy timeout: a write answers 503,
    not 500, and the same write succeeds once the lock is released."""
    instance = start_instance(tmp_path / "data", sqlite_busy_timeout_s=0.5)
    try:
        with instance.admin() as c:
            registration = c.get("/api/v1/runners/registration-tokens").json()["data"][0][
                "registrationToken"
            ]
        body = {"registrationToken": registration, "name": "patient"}
        locker = sqlite3.connect(instance.settings.data_dir / "offload.db", isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            with instance.client() as c:
                refused = c.post("/api/v1/runners/register", json=body)
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        with instance.client() as c:
            registered = c.post("/api/v1/runners/register", json=body)

        assert_unavailable(refused)
        assert 200 == registered.status_code, registered.text
    finally:
        instance.stop()


# ---- PostgreSQL -----------------------------------------------------------------------------


class Postgres:
    """Stop and start a cluster of the test's own (the session's is shared by every test)."""

    def __init__(self, cluster: PgCluster) -> None:
        self.cluster = cluster
        # `pg_ctl start` takes no options from the first start: keep them in the cluster's config.
        for setting in (
            f"port = {cluster.port}",
            f"unix_socket_directories = '{cluster.data_dir.parent}'",
            "listen_addresses = '127.0.0.1'",
        ):
            cluster.psql(f"ALTER SYSTEM SET {setting}")

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")

    def start(self) -> None:
        self._ctl("start")

    def _ctl(self, *args: str) -> None:
        # initdb made the cluster as `nobody` when we are root (see `tests.support.pg_cluster`).
        run_as = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
        log = self.cluster.data_dir.parent / "pg.log"
        # `-l`: without a log file the server would keep our stdout pipe open.
        subprocess.run(
            [
                *run_as,
                str(self.cluster.bin_dir / "pg_ctl"),
                "-D",
                str(self.cluster.data_dir),
                "-l",
                str(log),
                "-w",
                *args,
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )


@pytest.fixture
def postgres(pg: PgCluster | None) -> Iterator[Postgres]:
    if pg is None:
        pytest.skip("PostgreSQL not available (set OFFLOAD_REQUIRE_POSTGRES=1 to make this fail)")
    with pg_cluster() as cluster:
        yield Postgres(cluster)


@pytest.mark.slow
@pytest.mark.postgres
async def test_postgres_down_answers_503_and_everything_resumes(
    postgres: Postgres, tmp_path: Path
) -> None:
    """PostgreSQL stops under two instance processes: admin reads and runner calls answer 503
    problem JSON with Retry-After. Once it is back the same calls succeed by themselves, the
    jobs are all there, both watchdogs heartbeat again, a living process keeps its completion,
    and `available-jobs` pings cross processes again (the LISTEN connection came back)."""
    url = postgres.cluster.url(postgres.cluster.create_database())
    first = await asyncio.to_thread(start_instance, tmp_path / "a", url, **WATCHING)
    second = await asyncio.to_thread(start_instance, tmp_path / "b", url, **WATCHING)
    try:
        ladder = await asyncio.to_thread(enqueue_upload_ladder, first)
        other = await asyncio.to_thread(enqueue_upload_ladder, first)
        token = (await asyncio.to_thread(register_runner, first, "steady"))["runnerToken"]
        job_token = await asyncio.to_thread(accepted, first, ladder[0].uuid, token)
        await asyncio.to_thread(accepted, first, other[0].uuid, token)
        await asyncio.to_thread(force_completing, first, other[0].uuid)
        await asyncio.to_thread(first.admin_token)

        async with runner_socket(second, token) as on_second:
            await asyncio.to_thread(postgres.stop)
            with first.admin() as c:
                listed = await asyncio.to_thread(c.get, "/api/v1/runners/jobs")
            with second.client() as c:
                requested = await asyncio.to_thread(
                    c.post, "/api/v1/runners/jobs/request", json={"runnerToken": token}
                )
            updated = await asyncio.to_thread(
                runner_update, first, ladder[0].uuid, token, job_token
            )
            await asyncio.to_thread(postgres.start)

            for answer in (listed, requested, updated):
                assert_unavailable(answer)
            await asyncio.to_thread(
                wait_until,
                lambda: 204 == runner_update(first, ladder[0].uuid, token, job_token).status_code,
                timeout_s=20,
                message="updates accepted again",
            )
            await asyncio.to_thread(
                wait_until,
                lambda: all(i.services.extras["fanout"].listening for i in (first, second)),
                timeout_s=20,
                message="both processes listening again",
            )
            pings = len(on_second.pings)
            await asyncio.to_thread(enqueue_upload_ladder, first)
            await on_second.wait_for_pings(pings + 1)

        # Watched by the other process until it believes free liveness locks again, and a pass
        # more: the living owner keeps its completion.
        passes = int((WATCHING["process_lock_grace_s"] + 1) / WATCHING["watchdog_interval_s"])
        await asyncio.to_thread(watchdog_passes, first, 1)
        await asyncio.to_thread(watchdog_passes, second, passes)
        states = {
            j.uuid: j.state
            for j in [first.call(first.services.jobs.get, j.uuid) for j in ladder + other]
        }
        assert JobState.PROCESSING is states[ladder[0].uuid]
        assert JobState.COMPLETING is states[other[0].uuid]
        assert 20 == len(states)
    finally:
        for instance in (first, second):
            await asyncio.to_thread(instance.stop)
