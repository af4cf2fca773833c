"""Benchmarks 1–3: dispatch throughput, dispatch latency, scale with history."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import socketio

from bench.harness import Row, bulk_insert_jobs, percentile, serve_subprocess
from offload.domain.jobs import JobSpec, JobType
from tests.support import start_instance

__all__ = [
    "FILE_4KIB",
    "DbFactory",
    "dispatch_latency",
    "dispatch_throughput",
    "register_runner",
    "scale_with_history",
]

FILE_4KIB = b"\0" * 4096


async def register_runner(client: httpx.AsyncClient, admin_token: str, name: str) -> str:
    tokens = await client.get(
        "/api/v1/runners/registration-tokens", headers={"Authorization": f"Bearer {admin_token}"}
    )
    reg = tokens.json()["data"][0]["registrationToken"]
    r = await client.post("/api/v1/runners/register", json={"registrationToken": reg, "name": name})
    r.raise_for_status()
    return str(r.json()["runnerToken"])


async def _timed(latencies: dict[str, list[float]], name: str, call: Any) -> httpx.Response:
    t0 = time.perf_counter()
    response: httpx.Response = await call
    latencies.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
    return response


async def _finish(
    client: httpx.AsyncClient,
    token: str,
    job: dict[str, Any],
    latencies: dict[str, list[float]],
    done: list[int],
) -> None:
    """One progress update, then success with a 4 KiB file: the rest of a job, however taken."""
    auth = {"runnerToken": token, "jobToken": job["jobToken"]}
    await _timed(
        latencies,
        "update",
        client.post(
            f"/api/v1/runners/jobs/{job['uuid']}/update",
            files={"progress": (None, "50"), **{k: (None, v) for k, v in auth.items()}},
        ),
    )
    s = await _timed(
        latencies,
        "success",
        client.post(
            f"/api/v1/runners/jobs/{job['uuid']}/success",
            data=auth,
            files={"payload[videoFile]": ("out.mp4", FILE_4KIB)},
        ),
    )
    if s.status_code == 204:
        done.append(1)


async def _simulated_runner(
    client: httpx.AsyncClient, token: str, latencies: dict[str, list[float]], done: list[int]
) -> None:
    """request → accept → one progress update → success with a 4 KiB file, until none left."""
    while True:
        r = await _timed(
            latencies,
            "request",
            client.post("/api/v1/runners/jobs/request", json={"runnerToken": token}),
        )
        available = r.json()["availableJobs"]
        if not available:
            return
        accepted = None
        for job in available:
            a = await _timed(
                latencies,
                "accept",
                client.post(
                    f"/api/v1/runners/jobs/{job['uuid']}/accept", json={"runnerToken": token}
                ),
            )
            if a.status_code == 200:
                accepted = a.json()["job"]
                break
        if accepted is not None:
            await _finish(client, token, accepted, latencies, done)


async def _claiming_runner(
    client: httpx.AsyncClient, token: str, latencies: dict[str, list[float]], done: list[int]
) -> None:
    """Offload's claim (pick + accept in one call) → one progress update → success, until none left."""
    while True:
        r = await _timed(
            latencies,
            "claim",
            client.post("/api/v1/runners/jobs/claim", json={"runnerToken": token}),
        )
        claimed = r.json()["jobs"]
        if not claimed:
            return
        await _finish(client, token, claimed[0], latencies, done)


#: How simulated runners take jobs: PeerTube's two calls, or Offload's one.
MODES = {
    "request+accept": (_simulated_runner, ("request", "accept")),
    "claim": (_claiming_runner, ("claim",)),
}

DbFactory = Callable[[Path], str]


async def _throughput_case(
    db_factory: DbFactory,
    runners: int,
    jobs: int,
    work: Path,
    label: str,
    mode: str = "request+accept",
) -> Row:
    runner_loop, take_calls = MODES[mode]
    data_dir = work / f"tp-{label}-{runners}-{mode.replace('+', '-')}"
    data_dir.mkdir(parents=True)
    url_for_db = db_factory(data_dir)
    await bulk_insert_jobs(url_for_db, pending=jobs)
    with serve_subprocess(data_dir, url_for_db) as (url, _proc, admin):
        limits = httpx.Limits(max_connections=runners + 10, max_keepalive_connections=runners + 10)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
            tokens = [
                await register_runner(client, admin, f"bench-{label}-{runners}-{i}")
                for i in range(runners)
            ]
            latencies: dict[str, list[float]] = {}
            done: list[int] = []
            t0 = time.perf_counter()
            await asyncio.gather(*(runner_loop(client, t, latencies, done) for t in tokens))
            elapsed = time.perf_counter() - t0
    metrics: dict[str, float | int | str] = {
        "jobs/s": round(len(done) / elapsed, 1),
        "jobs": len(done),
    }
    for call in (*take_calls, "update", "success"):
        values = latencies.get(call, [])
        metrics[f"{call} p50 ms"] = round(percentile(values, 50), 1)
        metrics[f"{call} p99 ms"] = round(percentile(values, 99), 1)
    calls = "→".join((*take_calls, "update", "success"))
    return Row(
        "1 dispatch throughput",
        f"{label}, {runners} runner(s), {mode}",
        metrics,
        method=f"{runners} simulated runners ({calls}, 4 KiB file) drain {jobs} jobs from an `offload serve` subprocess",
    )


async def dispatch_throughput(
    databases: dict[str, DbFactory],
    runner_counts: list[int],
    jobs: int,
    work: Path,
    modes: tuple[str, ...] = tuple(MODES),
) -> list[Row]:
    rows = []
    for label, factory in databases.items():
        for n in runner_counts:
            for mode in modes:
                rows.append(await _throughput_case(factory, n, max(jobs, n * 3), work, label, mode))
    return rows


def dispatch_latency(samples: int, work: Path) -> list[Row]:
    """Enqueue → idle runner's accept, with the runner woken only by Socket.IO."""
    inst = start_instance(work / "latency")
    try:
        return asyncio.run(_latency(inst, samples))
    finally:
        inst.stop()


async def _latency(inst: Any, samples: int) -> list[Row]:
    async with httpx.AsyncClient(base_url=inst.url, timeout=30) as client:
        token = await register_runner(client, inst.admin_token(), "latency-runner")
        woke = asyncio.Event()
        sio = socketio.AsyncClient(reconnection=False)

        @sio.on("available-jobs", namespace="/runners")
        async def _on_jobs() -> None:
            woke.set()

        await sio.connect(
            inst.url, namespaces=["/runners"], transports=["websocket"], auth={"runnerToken": token}
        )
        totals, pings = [], []
        loop = asyncio.get_running_loop()
        for _ in range(samples):
            woke.clear()
            t0 = time.perf_counter()
            spec = JobSpec(
                JobType.VOD_WEB_VIDEO,
                {"input": {}, "output": {"resolution": 240, "fps": 25}},
                {},
                100,
            )
            await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(inst.services.jobs.enqueue([spec]), inst.loop)
            )
            await asyncio.wait_for(woke.wait(), timeout=10)
            t_ping = time.perf_counter()
            r = await client.post("/api/v1/runners/jobs/request", json={"runnerToken": token})
            job = r.json()["availableJobs"][0]
            a = await client.post(
                f"/api/v1/runners/jobs/{job['uuid']}/accept", json={"runnerToken": token}
            )
            assert a.status_code == 200
            t1 = time.perf_counter()
            totals.append((t1 - t0) * 1000)
            pings.append((t_ping - t0) * 1000)
            await client.post(
                f"/api/v1/runners/jobs/{job['uuid']}/success",
                data={"runnerToken": token, "jobToken": a.json()["job"]["jobToken"]},
                files={"payload[videoFile]": ("o.mp4", FILE_4KIB)},
            )
        await sio.disconnect()
        del loop
    debounce_ms = inst.settings.socket_debounce_s * 1000
    ours = [t - debounce_ms for t in totals]
    return [
        Row(
            "2 dispatch latency",
            f"{samples} jobs, idle runner on Socket.IO",
            {
                "enqueue→accept p50 ms": round(percentile(totals, 50), 1),
                "p99 ms": round(percentile(totals, 99), 1),
                "of which debounce ms": round(debounce_ms, 0),
                "ours p50 ms": round(percentile(ours, 50), 1),
                "ours p99 ms": round(percentile(ours, 99), 1),
            },
            method="job enqueued through the service layer; runner wakes on `available-jobs`, then request+accept; debounce = PeerTube's 1 s window",
        )
    ]


async def scale_with_history(
    databases: dict[str, DbFactory], history_sizes: list[int], samples: int, work: Path
) -> list[Row]:
    rows = []
    for label, factory in databases.items():
        p50s: dict[int, float] = {}
        for size in history_sizes:
            data_dir = work / f"hist-{label}-{size}"
            data_dir.mkdir(parents=True)
            url_for_db = factory(data_dir)
            await bulk_insert_jobs(url_for_db, pending=samples, completed=size)
            with serve_subprocess(data_dir, url_for_db) as (url, _proc, admin):
                async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                    token = await register_runner(client, admin, f"hist-{label}-{size}")
                    req, acc = [], []
                    for _ in range(samples):
                        t0 = time.perf_counter()
                        r = await client.post(
                            "/api/v1/runners/jobs/request", json={"runnerToken": token}
                        )
                        t1 = time.perf_counter()
                        job = r.json()["availableJobs"][0]
                        await client.post(
                            f"/api/v1/runners/jobs/{job['uuid']}/accept",
                            json={"runnerToken": token},
                        )
                        t2 = time.perf_counter()
                        req.append((t1 - t0) * 1000)
                        acc.append((t2 - t1) * 1000)
            p50s[size] = percentile(req, 50) + percentile(acc, 50)
            rows.append(
                Row(
                    "3 scale with history",
                    f"{label}, {size:,} finished jobs",
                    {
                        "request p50 ms": round(percentile(req, 50), 2),
                        "accept p50 ms": round(percentile(acc, 50), 2),
                        "request p99 ms": round(percentile(req, 99), 2),
                        "accept p99 ms": round(percentile(acc, 99), 2),
                    },
                    method=f"{samples} request+accept pairs with N completed jobs already in runner_jobs",
                )
            )
        smallest, largest = min(history_sizes), max(history_sizes)
        rows.append(
            Row(
                "3 scale with history",
                f"{label}, ratio {largest:,}/{smallest:,}",
                {"(request+accept) p50 ratio": round(p50s[largest] / p50s[smallest], 2)},
                method="should stay near 1: the PENDING lookup uses the (state, priority, id) index",
            )
        )
    return rows


def tmp_work() -> Path:
    return Path(tempfile.mkdtemp(prefix="offload-bench-"))
