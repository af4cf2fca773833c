"""Benchmark 8: studio edit — cut + add-intro + add-watermark on a 720p clip, (a) the same ffmpeg
argument lists run bare in sequence vs (b) Offload's processing step (`process_job`: fetch,
probes, the three ffmpeg runs with progress parsing, clean-up of the intermediate files).

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

from imageio_ffmpeg import get_ffmpeg_exe

from bench.harness import Row, median
from bench.overhead import make_clip
from offload.jobs.kind import Work
from offload.jobs.studio import edit_args, read_studio_job
from offload.media.edition import EditInput
from offload.media.ffmpeg import DEFAULT_THREADS, FfmpegOptions, ffmpeg_command, resolve_ffmpeg_path
from offload.media.probe import probe
from offload.media.processors import process_job

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
    return [
        Row(
            "8 studio edit",
            f"{clip_s:g} s 720p: cut + {intro_s:g} s intro + watermark",
            {
                "bare ffmpeg s (a)": round(a, 2),
                "Offload s (b)": round(b, 2),
                "b/a": round(b / a, 3),
            },
            method="(a) the three argv lists the processing step builds (`edit_args`), run in "
            "sequence with subprocess, probes untimed; (b) `process_job` with a fetch that copies "
            f"the local files; medians of {repeats} pair(s); target b/a ≤ 1.10",
            extra={"bare_s": bare, "offload_s": offload},
        )
    ]


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
