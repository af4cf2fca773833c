"""`python -m bench [--quick]`: run the benchmarks, print one table, write JSON results."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.bodies import oversized_bodies
from bench.connections import connected_runners
from bench.dispatch import (
    DbFactory,
    dispatch_latency,
    dispatch_throughput,
    scale_with_history,
    tmp_work,
)
from bench.harness import Row
from bench.overhead import runner_overhead
from bench.studio import studio_edit
from bench.transcription import transcription_rtf
from bench.transfer import transfer_memory
from bench.wake import ping_driven_dispatch
from tests.support import PgCluster, find_pg_bin, pg_cluster

__all__ = ["main"]

RESULTS = Path(__file__).parent / "results"


def machine() -> str:
    cpu = "unknown cpu"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()} {platform.release()}"


@contextlib.contextmanager
def maybe_pg() -> Iterator[PgCluster | None]:
    if find_pg_bin() is None:
        yield None
        return
    with pg_cluster() as cluster:
        yield cluster


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="about a minute: smaller sizes, keeps the harness alive in CI",
    )
    args = parser.parse_args()
    quick = args.quick
    console = Console(width=200)
    work = tmp_work()
    rows: list[Row] = []
    started = time.perf_counter()
    try:
        with maybe_pg() as cluster:
            databases: dict[str, DbFactory] = {
                "sqlite": lambda d: f"sqlite+aiosqlite:///{d / 'offload.db'}"
            }
            if cluster is not None:
                databases["postgres"] = lambda _d, c=cluster: c.url(c.create_database())
            else:
                console.print(
                    "[yellow]PostgreSQL binaries not found: PostgreSQL rows skipped[/yellow]"
                )
            runner_counts = [1, 10] if quick else [1, 10, 100]
            rows += asyncio.run(
                dispatch_throughput(databases, runner_counts, jobs=60 if quick else 300, work=work)
            )
            rows += dispatch_latency(samples=10 if quick else 200, work=work)
            sizes = [1_000, 10_000] if quick else [1_000, 100_000, 1_000_000]
            rows += asyncio.run(
                scale_with_history(databases, sizes, samples=30 if quick else 200, work=work)
            )
            rows += asyncio.run(connected_runners(50 if quick else 1000, work))
            rows += ping_driven_dispatch(
                [10] if quick else [10, 100], jobs=10 if quick else 40, interval_s=0.2, work=work
            )
        # No database choice in these: they measure the runner, the file paths and the HTTP intake.
        rows += runner_overhead(clip_s=4 if quick else 20, repeats=1 if quick else 3, work=work)
        rows += transcription_rtf(sentences=2 if quick else 6, repeats=1 if quick else 3, work=work)
        rows += transfer_memory([10, 100] if quick else [100, 1024], work)
        rows += oversized_bodies(clients=20, body_mib=150, rounds=1 if quick else 3, work=work)
        rows += studio_edit(
            clip_s=3 if quick else 20,
            intro_s=1 if quick else 3,
            repeats=1 if quick else 3,
            work=work,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    elapsed = time.perf_counter() - started
    print_table(console, rows, quick, elapsed)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"{'quick' if quick else 'full'}-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "machine": machine(),
                "quick": quick,
                "elapsed_s": round(elapsed, 1),
                "rows": [asdict(r) for r in rows],
            },
            indent=2,
        )
    )
    console.print(f"results written to {out}")


def print_table(console: Console, rows: list[Row], quick: bool, elapsed: float) -> None:
    table = Table(
        title=f"Offload benchmarks ({'quick' if quick else 'full'}) on {machine()}", show_lines=True
    )
    table.add_column("benchmark")
    table.add_column("case")
    table.add_column("figures")
    for row in rows:
        figures = ", ".join(f"{k} {v}" for k, v in row.metrics.items())
        table.add_row(row.benchmark, row.case, figures)
    console.print(table)
    console.print("Methods:")
    seen = set()
    for row in rows:
        if row.method and (row.benchmark, row.method) not in seen:
            seen.add((row.benchmark, row.method))
            console.print(f"  {row.benchmark}: {row.method}")
    console.print(f"total time {elapsed:.0f} s")


if __name__ == "__main__":
    main()
