"""Benchmark 5: runner overhead — one transcode through the whole Offload path vs the bare ffmpeg.

(b) is measured on the instance's own clock: from the optimize parent's `finishedAt` (its
children become PENDING in that transaction) to the last child's `finishedAt`, so it covers the
runner's request/accept, download, probe, ffmpeg, upload and the instance's completion. (a) runs
the argv the runner builds for those children (same builders and options, on the max-quality
file the instance serves once the ladder is done), one after another, while both sit idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import tomlkit
from imageio_ffmpeg import get_ffmpeg_exe

from bench.harness import Row, median, serve_subprocess
from offload.domain.jobs import JobState
from offload.media.ffmpeg import (
    FfmpegOptions,
    can_copy_for_hls,
    ffmpeg_command,
    hls_args,
    resolve_ffmpeg_path,
    web_video_args,
)
from offload.media.probe import probe
from offload.media.processors import aac_encoder
from offload.runner.config import RunnerConfig
from tests.support import wait_until

__all__ = [
    "elapsed_s",
    "make_clip",
    "runner_ffmpeg_options",
    "runner_overhead",
    "runner_subprocess",
]

_TERMINAL = {
    int(JobState.COMPLETED),
    int(JobState.ERRORED),
    int(JobState.CANCELLED),
    int(JobState.PARENT_ERRORED),
    int(JobState.PARENT_CANCELLED),
}
_POLL_S = 1.0  # the measurement uses the instance's timestamps; polling only costs CPU


def runner_overhead(clip_s: float, repeats: int, work: Path) -> list[Row]:
    return [_web_video_case(clip_s, repeats, work), _hls_ladder_case(clip_s, repeats, work)]


def _web_video_case(clip_s: float, repeats: int, work: Path) -> Row:
    # 1080p must be on too: with 720p alone the optimize parent itself would output 720p.
    transcoding = {
        "resolutions": _resolutions({720, 1080}),
        "webVideos": {"enabled": True},
        "hls": {"enabled": False},
    }
    clip = make_clip(work / "overhead-1080p.mp4", size="1920x1080", duration_s=clip_s)
    runs = _paired_runs(work / "overhead-web", clip, transcoding, repeats)
    to_accept = [
        elapsed_s(parent["finishedAt"], children[0]["startedAt"]) for parent, children, _ in runs
    ]
    return Row(
        "5 runner overhead",
        f"{clip_s:g} s 1080p → 720p web video",
        {**_ratio_metrics(runs), "to accept s": round(median(to_accept), 2)},
        method=f"(a) the runner's exact ffmpeg argv on the optimized file; (b) parent finishedAt → child finishedAt on the instance, "
        f"one `offload runner server` (concurrency 1) and `offload serve` as subprocesses; medians of {repeats} a/b pair(s); target b/a ≤ 1.05",
        extra={"runs": _run_details(runs)},
    )


def _hls_ladder_case(clip_s: float, repeats: int, work: Path) -> Row:
    transcoding = {
        "resolutions": _resolutions({144, 240, 360, 480, 720}),
        "webVideos": {"enabled": False},
        "hls": {"enabled": True},
    }
    clip = make_clip(work / "overhead-720p.mp4", size="1280x720", duration_s=clip_s)
    runs = _paired_runs(work / "overhead-hls", clip, transcoding, repeats)
    gaps = []
    for parent, children, _ in runs:
        previous = [parent, *children[:-1]]
        gaps.append(
            sum(
                elapsed_s(p["finishedAt"], c["startedAt"])
                for p, c in zip(previous, children, strict=True)
            )
        )
    return Row(
        "5 runner overhead",
        f"{clip_s:g} s 720p → {len(runs[0][1])}-rung HLS ladder",
        {**_ratio_metrics(runs), "between jobs s": round(median(gaps), 2)},
        method="(a) the five `hls_args` commands (copy decided by `can_copy_for_hls`) in sequence on the top HLS rendition (the input "
        "of rungs 2-5, a stream copy of the optimized file); "
        "(b) parent finishedAt → last HLS job's finishedAt",
        extra={"runs": _run_details(runs)},
    )


#: (parent job, children in the order they ran, bare ffmpeg seconds) of one upload.
Run = tuple[dict[str, Any], list[dict[str, Any]], float]


def _offload_s(run: Run) -> float:
    parent, children, _ = run
    return elapsed_s(parent["finishedAt"], children[-1]["finishedAt"])


def _ratio_metrics(runs: list[Run]) -> dict[str, float | int | str]:
    bare, offload = median([r[2] for r in runs]), median([_offload_s(r) for r in runs])
    return {
        "bare ffmpeg s (a)": round(bare, 2),
        "Offload s (b)": round(offload, 2),
        "b/a": round(offload / bare, 3),
    }


def _run_details(runs: list[Run]) -> list[dict[str, float]]:
    return [{"bare_s": round(r[2], 3), "offload_s": round(_offload_s(r), 3)} for r in runs]


def _resolutions(enabled: set[int]) -> dict[str, bool]:
    return {f"{r}p": r in enabled for r in (144, 240, 360, 480, 720, 1080, 1440, 2160)}


def make_clip(path: Path, *, size: str, duration_s: float) -> Path:
    """A lavfi clip (testsrc2 picture, sine tone) as H.264/AAC in MP4."""
    d = f"{duration_s:g}"
    argv = [get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y"]
    argv += [
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={size}:rate=25:duration={d}",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:sample_rate=48000:duration={d}",
    ]
    argv += [
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        str(path),
    ]
    subprocess.run(argv, check=True, capture_output=True, timeout=600)
    return path


def _paired_runs(root: Path, clip: Path, transcoding: dict[str, Any], repeats: int) -> list[Run]:
    """Upload `clip` `repeats` times to a fresh instance served by one runner; after each
    ladder, while both are idle, run the bare ffmpeg commands of its children."""
    data_dir = root / "instance"
    data_dir.mkdir(parents=True)
    runs = []
    with (
        serve_subprocess(data_dir) as (url, _proc, admin),
        httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {admin}"}) as api,
    ):
        api.put("/api/v1/config/custom", json={"transcoding": transcoding}).raise_for_status()
        with runner_subprocess(url, api, root / "runner") as config:
            options = asyncio.run(runner_ffmpeg_options(config))
            for index in range(repeats):
                with clip.open("rb") as handle:
                    answer = api.post(
                        "/api/v1/videos/upload",
                        data={"name": f"overhead {index}"},
                        files={"videofile": (clip.name, handle, "video/mp4")},
                    )
                answer.raise_for_status()
                video_uuid = answer.json()["video"]["uuid"]
                jobs = _wait_for_ladder(api, video_uuid)
                optimized = _download(
                    api, _max_quality_url(api, video_uuid), root / f"optimized-{index}.mp4"
                )
                parent = next(j for j in jobs if "parent" not in j)
                children = sorted((j for j in jobs if "parent" in j), key=lambda j: j["startedAt"])
                runs.append(
                    (
                        parent,
                        children,
                        _bare_ffmpeg(children, optimized, options, root / f"bare-{index}"),
                    )
                )
    return runs


@contextlib.contextmanager
def runner_subprocess(
    url: str, api: httpx.Client, home: Path, transcription: dict[str, str] | None = None
) -> Iterator[RunnerConfig]:
    """`offload runner register` then `offload runner server` with `[jobs] concurrency = 1`
    (and these `[transcription]` keys), its config, state and cache under `home`. Yields the
    runner's config."""
    config_dir = home / "config"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFLOAD_")}
    env.update(
        XDG_CONFIG_HOME=str(home / "xdg-config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CACHE_HOME=str(home / "cache"),
    )
    registration = api.get("/api/v1/runners/registration-tokens").json()["data"][0][
        "registrationToken"
    ]
    cli = [sys.executable, "-m", "offload.cli", "runner"]
    subprocess.run(
        [
            *cli,
            "register",
            "--config-dir",
            str(config_dir),
            "--url",
            url,
            "--registration-token",
            registration,
            "--runner-name",
            "bench-runner",
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    path = config_dir / "config.toml"
    document = tomlkit.parse(path.read_text())
    document.setdefault("jobs", tomlkit.table())["concurrency"] = 1
    document.setdefault("transcription", tomlkit.table()).update(transcription or {})
    path.write_text(tomlkit.dumps(document))
    log_path = home / "runner.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*cli, "server", "--config-dir", str(config_dir)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

        def connected() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"runner exited early, see {log_path}")
            return b"connected to" in log_path.read_bytes()

        try:
            # Connected over Socket.IO: from now on a new job wakes it at once.
            wait_until(connected, timeout_s=60, message="runner connection")
            yield RunnerConfig.load(path)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait_for_ladder(
    api: httpx.Client, video_uuid: str, timeout_s: float = 900
) -> list[dict[str, Any]]:
    """Poll the admin job list until every job of the video is completed."""

    def finished() -> list[dict[str, Any]] | None:
        listed = api.get("/api/v1/runners/jobs", params={"count": 100}).json()["data"]
        jobs = [j for j in listed if j["privatePayload"].get("videoUUID") == video_uuid]
        states = {j["state"]["id"] for j in jobs}
        if (states & _TERMINAL) - {int(JobState.COMPLETED)}:
            raise RuntimeError(f"a job failed: {[j.get('error') for j in jobs if j.get('error')]}")
        return jobs if states == {int(JobState.COMPLETED)} else None

    return wait_until(
        finished, timeout_s=timeout_s, interval_s=_POLL_S, message="the transcoding ladder"
    )


def _max_quality_url(api: httpx.Client, video_uuid: str) -> str:
    """The children's input as the instance serves it now: the web file, or without web videos
    the top HLS rendition (a stream copy of the optimized file)."""
    video = api.get(f"/api/v1/videos/{video_uuid}").json()
    files = video["files"] or video["streamingPlaylists"][0]["files"]
    return str(max(files, key=lambda f: f["resolution"]["id"])["fileUrl"])


def _download(api: httpx.Client, url: str, destination: Path) -> Path:
    with api.stream("GET", url) as response, destination.open("wb") as out:
        response.raise_for_status()
        for chunk in response.iter_bytes(1024 * 1024):
            out.write(chunk)
    return destination


async def runner_ffmpeg_options(config: RunnerConfig) -> FfmpegOptions:
    """The options `offload runner server` builds from its config (cli/runner.py)."""
    path = resolve_ffmpeg_path(config.ffmpeg_path)
    setpriv = shutil.which("setpriv") if sys.platform == "linux" else None
    return FfmpegOptions(
        path=path,
        threads=config.ffmpeg_threads,
        nice=config.ffmpeg_nice if shutil.which("nice") else 0,
        audio_encoder=await aac_encoder(path),
        launcher=(setpriv, "--pdeathsig", "KILL", "--") if setpriv else (),
    )


def _bare_ffmpeg(
    jobs: list[dict[str, Any]], video: Path, options: FfmpegOptions, workdir: Path
) -> float:
    """Wall time of the jobs' ffmpeg commands, built as `processors.py` builds them, in sequence."""
    workdir.mkdir(parents=True)
    info = probe(video)
    argvs = []
    for index, job in enumerate(jobs):
        output = job["payload"]["output"]
        resolution, fps = int(output["resolution"]), int(output["fps"])
        if job["type"] == "vod-web-video-transcoding":
            args = web_video_args(
                video_input=video,
                video_info=info,
                output=workdir / f"{index}.mp4",
                resolution=resolution,
                fps=fps,
                options=options,
            )
        else:
            args = hls_args(
                video_input=video,
                video_info=info,
                playlist=workdir / f"{index}.m3u8",
                segment=workdir / f"{index}-fragmented.mp4",
                resolution=resolution,
                fps=fps,
                separated_audio=bool(output.get("separatedAudio", False)),
                copy_codecs=can_copy_for_hls(info, resolution, fps),
                options=options,
            )
        argvs.append(ffmpeg_command(options, args))
    started = time.perf_counter()
    for argv in argvs:
        subprocess.run(
            argv,
            cwd=workdir,
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=900,
        )
    return time.perf_counter() - started


def elapsed_s(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
