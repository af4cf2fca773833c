"""Benchmark 10: ping-driven dispatch — runners that look for jobs only when pinged, as
PeerTube's runner does, with every connected runner pinged per job (PeerTube's broadcast,
`wake_all_runners`) vs Offload's waves sized by the jobs on offer.

An in-process instance on SQLite; N runners, each a real Socket.IO client over WebSocket that,
on `available-jobs`, asks for jobs (`jobs/request`), accepts the first it can, finishes it
(success with a 4 KiB file) and asks again until it finds nothing, as the official runner's
loop does. Jobs arrive one by one, `interval_s` apart. Printed: the calls each job cost (every
`request` and `accept`, and how many of them came back empty-handed or lost), and the time from
enqueue to accept.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import socketio

from bench.dispatch import FILE_4KIB, register_runner
from bench.harness import Row, percentile
from offload.domain.jobs import JobSpec, JobType
from tests.support import start_instance

__all__ = ["ping_driven_dispatch"]


def ping_driven_dispatch(
    runner_counts: list[int], jobs: int, interval_s: float, work: Path
) -> list[Row]:
    rows = []
    for runners in runner_counts:
        for wake_all in (True, False):
            rows.append(asyncio.run(_case(runners, jobs, interval_s, wake_all, work)))
    return rows


async def _case(runners: int, jobs: int, interval_s: float, wake_all: bool, work: Path) -> Row:
    label = "every runner pinged (PeerTube)" if wake_all else "waves sized by the offer"
    instance = start_instance(
        work / f"wake-{runners}-{'all' if wake_all else 'waves'}-{uuid.uuid4().hex[:6]}",
        wake_all_runners=wake_all,
    )
    try:
        counts = {"request": 0, "empty request": 0, "accept": 0, "lost accept": 0}
        enqueued_at: dict[str, float] = {}
        waits: list[float] = []
        done: list[str] = []
        limits = httpx.Limits(max_connections=runners + 10, max_keepalive_connections=runners + 10)
        async with httpx.AsyncClient(base_url=instance.url, timeout=60, limits=limits) as client:
            tokens = [
                await register_runner(client, instance.admin_token(), f"pinged-{i}")
                for i in range(runners)
            ]
            busy: set[str] = set()
            tasks: set[asyncio.Task[None]] = set()

            async def look_for_jobs(token: str) -> None:
                """The official runner's reaction to a ping: take jobs until none is left."""
                try:
                    while True:
                        counts["request"] += 1
                        r = await client.post(
                            "/api/v1/runners/jobs/request", json={"runnerToken": token}
                        )
                        offered = r.json()["availableJobs"]
                        if not offered:
                            counts["empty request"] += 1
                            return
                        taken = None
                        for job in offered:
                            counts["accept"] += 1
                            a = await client.post(
                                f"/api/v1/runners/jobs/{job['uuid']}/accept",
                                json={"runnerToken": token},
                            )
                            if a.status_code == 200:
                                taken = a.json()["job"]
                                break
                            counts["lost accept"] += 1
                        if taken is None:
                            return
                        waits.append(time.perf_counter() - enqueued_at[taken["uuid"]])
                        s = await client.post(
                            f"/api/v1/runners/jobs/{taken['uuid']}/success",
                            data={"runnerToken": token, "jobToken": taken["jobToken"]},
                            files={"payload[videoFile]": ("out.mp4", FILE_4KIB)},
                        )
                        if s.status_code == 204:
                            done.append(taken["uuid"])
                finally:
                    busy.discard(token)

            def pinged(token: str) -> None:
                if token in busy:
                    return  # already looking: the official runner does not start twice
                busy.add(token)
                task = asyncio.get_running_loop().create_task(look_for_jobs(token))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

            sockets = []
            for token in tokens:
                sio = socketio.AsyncClient(reconnection=False)
                sio.on("available-jobs", lambda *_a, t=token: pinged(t), namespace="/runners")
                await sio.connect(
                    instance.url,
                    namespaces=["/runners"],
                    transports=["websocket"],
                    auth={"runnerToken": token},
                )
                sockets.append(sio)
            t0 = time.perf_counter()
            for _ in range(jobs):
                [created] = await _enqueue(instance, 1)
                enqueued_at[created.uuid] = time.perf_counter()
                await asyncio.sleep(interval_s)
            deadline = time.perf_counter() + 120
            while len(done) < jobs and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - t0
            for sio in sockets:
                await sio.disconnect()
            for task in list(tasks):
                task.cancel()
    finally:
        instance.stop()
    per_job = max(1, len(done))
    return Row(
        "10 ping-driven dispatch",
        f"SQLite, {runners} runners, {jobs} jobs {interval_s:g} s apart, {label}",
        {
            "jobs done": len(done),
            "calls/job": round((counts["request"] + counts["accept"]) / per_job, 2),
            "empty requests/job": round(counts["empty request"] / per_job, 2),
            "lost accepts/job": round(counts["lost accept"] / per_job, 2),
            "enqueue→accept p50 ms": round(percentile(waits, 50) * 1000, 1),
            "p95 ms": round(percentile(waits, 95) * 1000, 1),
            "wall s": round(elapsed, 1),
        },
        method="runners react to `available-jobs` only (request → accept → success → request "
        "…, as the official runner); latency includes PeerTube's 1 s ping debounce",
    )


async def _enqueue(instance: Any, count: int) -> list[Any]:
    specs = [
        JobSpec(
            JobType.VOD_WEB_VIDEO,
            {"input": {}, "output": {"resolution": 240, "fps": 25}},
            {"videoUUID": str(uuid.uuid4())},
            100,
        )
        for _ in range(count)
    ]
    future = asyncio.run_coroutine_threadsafe(instance.services.jobs.enqueue(specs), instance.loop)
    return list(await asyncio.wrap_future(future))
