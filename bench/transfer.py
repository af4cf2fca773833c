"""Benchmark 6: transfer memory — peak RSS of the instance and of a runner moving one big file.

The instance's peak comes from /proc/<pid>/status `VmHWM`, reset through `clear_refs` before each
phase; the runner side is a separate Python process (`python -m bench.transfer`) that drives
`InstanceClient` as the daemon does and reports its own `VmHWM`. (Not `ru_maxrss`: on Linux it
carries over the parent's high-water mark through fork and exec, so a child of a big bench
process would report the bench's size.)
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from imageio_ffmpeg import get_ffmpeg_exe

from bench.harness import Row, peak_rss_kib, reset_peak_rss, rss_kib, serve_subprocess
from offload.runner.client import InstanceClient

__all__ = ["make_raw_video", "transfer_memory"]

_FRAME = (1920, 1080)
_FRAME_BYTES = _FRAME[0] * _FRAME[1] * 3 // 2  # yuv420p
_MIB = 1024 * 1024


def transfer_memory(sizes_mib: list[int], work: Path) -> list[Row]:
    return [_transfer_case(size, work) for size in sizes_mib]


def _transfer_case(size_mib: int, work: Path) -> Row:
    root = work / f"transfer-{size_mib}"
    root.mkdir(parents=True)
    try:
        media = make_raw_video(root / "big.mkv", size_mib * _MIB)
        data_dir = root / "instance"
        data_dir.mkdir()
        with (
            serve_subprocess(data_dir) as (url, proc, admin),
            httpx.Client(
                base_url=url, timeout=600, headers={"Authorization": f"Bearer {admin}"}
            ) as api,
        ):
            idle_kib = rss_kib(proc.pid)
            reset_peak_rss(proc.pid)
            started = time.perf_counter()
            with media.open("rb") as handle:
                api.post(
                    "/api/v1/videos/upload",
                    data={"name": "transfer"},
                    files={"videofile": (media.name, handle, "video/x-matroska")},
                ).raise_for_status()
            upload_s = time.perf_counter() - started
            upload_peak_kib = peak_rss_kib(proc.pid)
            registration = api.get("/api/v1/runners/registration-tokens").json()["data"][0][
                "registrationToken"
            ]
            reset_peak_rss(proc.pid)
            side = subprocess.run(
                [sys.executable, "-m", "bench.transfer", url, registration, str(root / "runner")],
                check=False,
                capture_output=True,
                timeout=1800,
                cwd=Path(__file__).parent.parent,
            )
            if side.returncode != 0:
                raise RuntimeError(
                    f"runner side failed: {side.stderr.decode(errors='replace')[-2000:]}"
                )
            runner = json.loads(side.stdout)
            round_trip_peak_kib = peak_rss_kib(proc.pid)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return Row(
        "6 transfer memory",
        f"{size_mib:,} MiB file",
        {
            "instance idle MiB": _mib(idle_kib),
            "instance peak upload MiB": _mib(upload_peak_kib),
            "instance peak runner transfer MiB": _mib(round_trip_peak_kib),
            "runner before MiB": _mib(runner["before_kib"]),
            "runner peak download MiB": _mib(runner["after_download_kib"]),
            "runner peak upload MiB": _mib(runner["after_upload_kib"]),
            "upload MiB/s": round(size_mib / upload_s),
            "runner download MiB/s": round(size_mib / runner["download_s"]),
            "runner upload+completion MiB/s": round(size_mib / runner["upload_s"]),
        },
        method="rawvideo 1080p Matroska uploaded through /api/v1/videos/upload; a runner process accepts the optimize job, downloads "
        "its input and posts it back as its videoFile; peak RSS = VmHWM of each process (the instance's reset per phase)",
    )


def make_raw_video(path: Path, size_bytes: int) -> Path:
    """A valid video of about `size_bytes`, cheaply: uncompressed 1080p testsrc2 frames."""
    frames = max(2, math.ceil(size_bytes / _FRAME_BYTES))
    size = f"{_FRAME[0]}x{_FRAME[1]}"
    argv = [
        get_ffmpeg_exe(),
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={size}:rate=25",
    ]
    argv += ["-frames:v", str(frames), "-c:v", "rawvideo", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(argv, check=True, capture_output=True, timeout=600)
    return path


def _mib(kib: int) -> float:
    return round(kib / 1024, 1)


# ---- the runner side, in its own process ----------------------------------------------------


async def _runner_side(url: str, registration_token: str, workdir: Path) -> dict[str, Any]:
    """Take the optimize job, download its input, post it back as the output."""
    workdir.mkdir(parents=True)
    async with InstanceClient(url) as client:
        token = (await client.register(registration_token, "bench-transfer"))["runnerToken"]
        offers = await client.request_jobs(token)
        job = await client.accept(token, offers[0]["uuid"])
        before = peak_rss_kib(os.getpid())
        destination = workdir / "input.mkv"
        started = time.perf_counter()
        await client.download(
            job["payload"]["input"]["videoFileUrl"], token, job["jobToken"], destination
        )
        downloaded = time.perf_counter()
        after_download = peak_rss_kib(os.getpid())
        await client.success(token, job["uuid"], job["jobToken"], {"videoFile": destination})
        return {
            "before_kib": before,
            "after_download_kib": after_download,
            "after_upload_kib": peak_rss_kib(os.getpid()),
            "download_s": downloaded - started,
            "upload_s": time.perf_counter() - downloaded,
        }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_runner_side(sys.argv[1], sys.argv[2], Path(sys.argv[3])))))
