"""Benchmark 8: studio edit — cut + add-intro + add-watermark on a 720p clip, (a) the same ffmpeg
argument lists run bare in sequence vs (b) Offload's processing step (`process_job`: fetch,
probes, the three ffmpeg runs with progress parsing, clean-up of the intermediate files), and
(c) the whole Offload path: `offload serve` and `offload runner server` in subprocesses, the
edit asked through PeerTube's `POST /videos/{id}/studio/edit` with its intro and watermark
files, timed on the instance's clock from the job's creation (the 1 s ping debounce included)
to its completion (runner download of the input and task files, the edit, upload, the
instance's verification of the result); (c) is set against (a) run with the runner's own ffmpeg
options on the same machine.

(a) builds its argv lists with the processing step's own builder (`jobs.studio.edit_args`) and
probes each intermediate outside the timed part, so only the ffmpeg runs are timed. (b)'s fetch
copies the local files into the work directory, as a runner's download writes them there.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from imageio_ffmpeg import get_ffmpeg_exe

from bench.harness import Row, median, serve_subprocess
from bench.overhead import elapsed_s, make_clip, runner_ffmpeg_options, runner_subprocess
from offload.jobs.kind import Work
from offload.jobs.studio import edit_args, read_studio_job
from offload.media.edition import EditInput
from offload.media.ffmpeg import DEFAULT_THREADS, FfmpegOptions, ffmpeg_command, resolve_ffmpeg_path
from offload.media.probe import probe
from offload.media.processors import process_job
from tests.support import wait_until

__all__ = ["studio_edit"]

_TASK_FILES = "https://instance.bench/api/v1/runners/jobs/j/files/videos/v/studio/task-files"
_VIDEO_URL = "https://instance.bench/api/v1/runners/jobs/j/files/videos/v/max-quality"


def studio_edit(clip_s: float, intro_s: float, repeats: int, work: Path) -> list[Row]:
    """One row: medians of `repeats` (a)/(b) pairs, alternating which runs first."""
    root = work / "studio"
    root.mkdir(parents=True, exist_ok=True)
    files = {
        _VIDEO_URL: make_clip(root / "main-720p.mp4", size="1280x720", duration_s=clip_s),
        f"{_TASK_FILES}/intro.mp4": make_clip(
            root / "intro.mp4", size="640x480", duration_s=intro_s
        ),
        f"{_TASK_FILES}/logo.png": _logo(root / "logo.png"),
    }
    payload = {
        "input": {"videoFileUrl": _VIDEO_URL},
        "tasks": [
            {"name": "cut", "options": {"start": 1, "end": clip_s - 1}},
            {"name": "add-intro", "options": {"file": f"{_TASK_FILES}/intro.mp4"}},
            {
                "name": "add-watermark",
                "options": {
                    "file": f"{_TASK_FILES}/logo.png",
                    "watermarkSizeRatio": 0.1,
                    "horizontalMarginRatio": 0.02,
                    "verticalMarginRatio": 0.02,
                },
            },
        ],
        "output": {},
    }
    options = FfmpegOptions(path=resolve_ffmpeg_path(), threads=DEFAULT_THREADS, nice=0)
    bare, offload = [], []
    for index in range(repeats):
        order = [_bare, _offload] if index % 2 == 0 else [_offload, _bare]
        for measure in order:
            elapsed = asyncio.run(measure(payload, files, options, root / f"run-{uuid.uuid4()}"))
            (bare if measure is _bare else offload).append(elapsed)
    a, b = median(bare), median(offload)
    whole, runner_bare = _whole_path(files, payload, repeats, root)
    c, a_runner = median(whole), median(runner_bare)
    return [
        Row(
            "8 studio edit",
            f"{clip_s:g} s 720p: cut + {intro_s:g} s intro + watermark",
            {
                "bare ffmpeg s (a)": round(a, 2),
                "Offload step s (b)": round(b, 2),
                "b/a": round(b / a, 3),
                "whole path s (c)": round(c, 2),
                "c/a (runner's ffmpeg options)": round(c / a_runner, 3),
            },
            method="(a) the three argv lists the processing step builds (`edit_args`), run in "
            "sequence with subprocess, probes untimed; (b) `process_job` with a fetch that copies "
            "the local files; (c) instance + runner subprocesses, edit job createdAt → finishedAt "
            f"on the instance; medians of {repeats} run(s) each; target b/a and c/a ≤ 1.10",
            extra={
                "bare_s": bare,
                "offload_s": offload,
                "whole_path_s": whole,
                "bare_runner_options_s": runner_bare,
            },
        )
    ]


def _whole_path(
    files: dict[str, Path], payload: dict[str, Any], repeats: int, root: Path
) -> tuple[list[float], list[float]]:
    """(c): each repeat uploads the clip (published as is: transcoding and storyboards off),
    asks the edit through the API and reads the job's times off the instance; then, with both
    idle, (a) again with the runner's own ffmpeg options."""
    video, intro, logo = (files[k] for k in files)
    cut = payload["tasks"][0]["options"]
    data_dir = root / "instance"
    data_dir.mkdir(parents=True, exist_ok=True)
    whole: list[float] = []
    bare: list[float] = []
    with (
        serve_subprocess(data_dir) as (url, _proc, admin),
        httpx.Client(
            base_url=url, timeout=120, headers={"Authorization": f"Bearer {admin}"}
        ) as api,
    ):
        api.put(
            "/api/v1/config/custom",
            json={"transcoding": {"enabled": False}, "storyboards": {"enabled": False}},
        ).raise_for_status()
        with runner_subprocess(url, api, root / "runner") as config:
            options = asyncio.run(runner_ffmpeg_options(config))
            for index in range(repeats):
                with video.open("rb") as handle:
                    answer = api.post(
                        "/api/v1/videos/upload",
                        data={"name": f"studio {index}"},
                        files={"videofile": (video.name, handle, "video/mp4")},
                    )
                answer.raise_for_status()
                video_uuid = answer.json()["video"]["uuid"]
                edited = api.post(
                    f"/api/v1/videos/{video_uuid}/studio/edit",
                    data={
                        "tasks[0][name]": "cut",
                        "tasks[0][options][start]": str(int(cut["start"])),
                        "tasks[0][options][end]": str(int(cut["end"])),
                        "tasks[1][name]": "add-intro",
                        "tasks[2][name]": "add-watermark",
                    },
                    files={
                        "tasks[1][options][file]": (intro.name, intro.read_bytes()),
                        "tasks[2][options][file]": (logo.name, logo.read_bytes()),
                    },
                )
                edited.raise_for_status()
                job = _studio_job_done(api, video_uuid)
                whole.append(elapsed_s(job["createdAt"], job["finishedAt"]))
                bare.append(
                    asyncio.run(_bare(payload, files, options, root / f"run-{uuid.uuid4()}"))
                )
    return whole, bare


def _studio_job_done(api: httpx.Client, video_uuid: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        listed = api.get("/api/v1/runners/jobs", params={"count": 100}).json()["data"]
        for job in listed:
            if (
                job["type"] == "video-studio-transcoding"
                and job["privatePayload"].get("videoUUID") == video_uuid
            ):
                if job["state"]["id"] in (4, 6):
                    raise RuntimeError(f"the studio job failed: {job.get('error')}")
                return job if job["state"]["id"] == 3 else None
        return None

    return wait_until(done, timeout_s=900, interval_s=1.0, message="the studio edit")


async def _offload(
    payload: dict[str, Any], files: dict[str, Path], options: FfmpegOptions, workdir: Path
) -> float:
    async def fetch(url: str) -> Path:
        target = workdir / f"input-{uuid.uuid4()}"
        await asyncio.to_thread(shutil.copyfile, files[url], target)
        return target

    started = time.perf_counter()
    await process_job(
        "video-studio-transcoding",
        payload,
        workdir=workdir,
        fetch=fetch,
        on_progress=lambda _percent: None,
        ffmpeg=options,
    )
    elapsed = time.perf_counter() - started
    shutil.rmtree(workdir, ignore_errors=True)
    return elapsed


async def _bare(
    payload: dict[str, Any], files: dict[str, Path], options: FfmpegOptions, workdir: Path
) -> float:
    async def fetch(url: str) -> Path:
        return files[url]

    workdir.mkdir(parents=True)
    work = Work(workdir, fetch, lambda _percent: None, options)
    job = read_studio_job(payload)
    video = files[job.video_url]
    source = EditInput(video, probe(video))
    elapsed = 0.0
    for index, task in enumerate(job.tasks):
        output = workdir / f"edit-{index}.mp4"
        args, _duration = await edit_args(task, source, output, work)
        started = time.perf_counter()
        subprocess.run(
            ffmpeg_command(options, args),
            cwd=workdir,
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=600,
        )
        elapsed += time.perf_counter() - started
        source = EditInput(output, probe(output))
    shutil.rmtree(workdir, ignore_errors=True)
    return elapsed


def _logo(path: Path) -> Path:
    """A 256x256 PNG with transparency, like an uploaded channel logo."""
    subprocess.run(
        [get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "lavfi"]
        + ["-i", "testsrc2=size=256x256:duration=1,format=rgba,colorchannelmixer=aa=0.6"]
        + ["-frames:v", "1", str(path)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return path
