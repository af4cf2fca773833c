"""Benchmark 4: instance memory and request latency with many runners connected over Socket.IO."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import socketio

from bench.dispatch import register_runner
from bench.harness import Row, percentile, rss_kib, serve_subprocess

__all__ = ["connected_runners"]


async def connected_runners(count: int, work: Path) -> list[Row]:
    data_dir = work / f"conn-{count}"
    data_dir.mkdir(parents=True)
    with serve_subprocess(data_dir) as (url, proc, admin):
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            token = await register_runner(client, admin, "conn-bench")
            rss_before = rss_kib(proc.pid)

            async def one_request_latency(samples: int = 50) -> list[float]:
                values = []
                for _ in range(samples):
                    t0 = time.perf_counter()
                    await client.post("/api/v1/runners/jobs/request", json={"runnerToken": token})
                    values.append((time.perf_counter() - t0) * 1000)
                return values

            idle_latency = await one_request_latency()
            clients: list[socketio.AsyncClient] = []
            sem = asyncio.Semaphore(50)

            async def connect() -> None:
                async with sem:
                    c = socketio.AsyncClient(reconnection=False)
                    await c.connect(
                        url,
                        namespaces=["/runners"],
                        transports=["websocket"],
                        auth={"runnerToken": token},
                        wait_timeout=30,
                    )
                    clients.append(c)

            t0 = time.perf_counter()
            await asyncio.gather(*(connect() for _ in range(count)))
            connect_s = time.perf_counter() - t0
            rss_after = rss_kib(proc.pid)
            loaded_latency = await one_request_latency()
            await asyncio.gather(*(c.disconnect() for c in clients))
    return [
        Row(
            "4 connected runners",
            f"{count} Socket.IO runners",
            {
                "RSS before MiB": round(rss_before / 1024, 1),
                "RSS after MiB": round(rss_after / 1024, 1),
                "KiB per runner": round((rss_after - rss_before) / count, 1),
                "connect all s": round(connect_s, 2),
                "request p50 ms idle": round(percentile(idle_latency, 50), 2),
                "request p50 ms loaded": round(percentile(loaded_latency, 50), 2),
                "request p99 ms loaded": round(percentile(loaded_latency, 99), 2),
            },
            method=f"{count} websocket clients on /runners held open; 50 jobs/request calls before and after; RSS from /proc of the `offload serve` subprocess",
        )
    ]
