"""Shared pieces of the benchmarks: instances in subprocesses, bulk job insertion, stats."""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from offload.domain.jobs import JobState, JobType
from offload.store.database import Database
from offload.store.tables import runner_jobs
from tests.support import ADMIN_PASSWORD, free_port, login, wait_until

__all__ = [
    "Row",
    "bulk_insert_jobs",
    "median",
    "peak_rss_kib",
    "percentile",
    "reset_peak_rss",
    "rss_kib",
    "serve_subprocess",
    "small_payload",
]


@dataclass
class Row:
    """One line of the results table."""

    benchmark: str
    case: str
    metrics: dict[str, float | int | str]
    method: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident set size (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def reset_peak_rss(pid: int) -> None:
    """Make VmHWM start again from the current RSS (Linux ≥ 4.0)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def small_payload(video_uuid: str, job_placeholder: str = "x") -> dict[str, Any]:
    base = f"http://127.0.0.1/api/v1/runners/jobs/{job_placeholder}/files/videos/{video_uuid}"
    return {
        "input": {"videoFileUrl": f"{base}/max-quality", "separatedAudioFileUrl": []},
        "output": {"resolution": 480, "fps": 25},
    }


async def bulk_insert_jobs(
    database_url: str, pending: int, completed: int = 0, batch: int = 5000
) -> None:
    """Insert jobs straight through the store's table (the instance's own schema)."""
    db = Database(database_url)
    await db.upgrade()
    now = datetime.now(UTC)
    video = str(uuid.uuid4())

    def rows(n: int, state: JobState) -> Iterator[dict[str, Any]]:
        for _ in range(n):
            yield {
                "uuid": str(uuid.uuid4()),
                "type": str(JobType.VOD_WEB_VIDEO),
                "state": int(state),
                "priority": 100,
                "failures": 0,
                "payload": small_payload(video),
                "private_payload": {"videoUUID": video},
                "attempt": 1 if state is JobState.COMPLETED else 0,
                "created_at": now,
                "updated_at": now,
                "finished_at": now if state is JobState.COMPLETED else None,
            }

    for n, state in ((completed, JobState.COMPLETED), (pending, JobState.PENDING)):
        chunk: list[dict[str, Any]] = []
        for row in rows(n, state):
            chunk.append(row)
            if len(chunk) >= batch:
                async with db.write() as conn:
                    await conn.execute(sa.insert(runner_jobs), chunk)
                chunk = []
        if chunk:
            async with db.write() as conn:
                await conn.execute(sa.insert(runner_jobs), chunk)
    # What autovacuum would do shortly after a bulk load: give the planner real statistics.
    async with db.write() as conn:
        await conn.execute(sa.text("ANALYZE runner_jobs" if not db.is_sqlite else "ANALYZE"))
    await db.dispose()


@contextlib.contextmanager
def serve_subprocess(
    data_dir: Path, database_url: str | None = None, **env_overrides: str
) -> Iterator[tuple[str, subprocess.Popen[bytes], str]]:
    """`offload serve` in its own process (no GIL shared with the load generator).

    Yields (url, process, admin token).
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFLOAD_")}
    env.update(
        OFFLOAD_DATA_DIR=str(data_dir),
        OFFLOAD_LISTEN=f"127.0.0.1:{port}",
        OFFLOAD_ADMIN_PASSWORD=ADMIN_PASSWORD,
        OFFLOAD_RATE_LIMIT_MAX="1000000",
        OFFLOAD_LOG_LEVEL="warning",
    )
    if database_url:
        env["OFFLOAD_DATABASE_URL"] = database_url
    env.update(env_overrides)
    log = open(data_dir.parent / f"serve-{port}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "offload.cli", "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"instance exited early, see {log.name}")
        try:
            return httpx.get(url + "/api/v1/ping", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout_s=60, interval_s=0.1, message="instance subprocess")
        yield url, proc, login(url, "root", ADMIN_PASSWORD)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def now_ms() -> float:
    return time.perf_counter() * 1000
