"""Benchmark 9: transcription — the real-time factor of a `video-transcription` job through
the whole Offload path vs the engine called directly on the same file, and the model's load
time.

(b) is measured on the instance's clock, the job's `startedAt` → `finishedAt` (accept,
download, probe, faster-whisper, upload, the WebVTT check and storage), on a runner that has
transcribed once already (its model stays loaded, as in service). (a) runs the runner's engine
(`FasterWhisperEngine`, same options) in this process on the uploaded file, model loaded and
warmed by one run too.
Speech comes from espeak-ng; the row is skipped without it or without the transcription extra.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from imageio_ffmpeg import get_ffmpeg_exe

from bench.harness import Row, median, serve_subprocess
from bench.overhead import runner_subprocess
from offload.domain.jobs import JobState
from offload.jobs.whisper import FasterWhisperEngine, TranscriptionOptions, bundled_models
from tests.support import wait_until

__all__ = ["transcription_rtf"]

#: Sentences that do not repeat: a repetitive transcript trips Whisper's compression-ratio
#: check and its temperature fallback decodes again at random, which would swamp the figures.
_SENTENCES = (
    "Hello world. This video was transcribed by a remote runner.",
    "The runner downloads the audio, runs the speech model and posts a caption file.",
    "Every caption is checked by the instance before it is stored next to the video.",
    "A small model keeps the machine busy for a few seconds only.",
    "Captions appear in the player as soon as the job is done.",
    "Nothing is downloaded from the network while the model runs.",
)
_DONE = {int(JobState.COMPLETED), int(JobState.ERRORED)}


def transcription_rtf(sentences: int, repeats: int, work: Path) -> list[Row]:
    espeak = shutil.which("espeak-ng")
    if espeak is None or "tiny.en" not in bundled_models():
        return [Row("9 transcription", "skipped", {"reason": "espeak-ng or the extra missing"})]
    root = work / "transcription"
    root.mkdir(parents=True)
    clip = _speech_clip(espeak, root / "speech.mp4", " ".join(_SENTENCES[:sentences]))
    load_s, pairs, duration_s = _paired(clip, root, repeats)
    bare, offload = median([a for a, _ in pairs]), median([b for _, b in pairs])
    return [
        Row(
            "9 transcription",
            f"{duration_s:.1f} s of espeak-ng speech, faster-whisper tiny.en int8",
            {
                "model load s": round(load_s, 2),
                "engine RTF (a)": round(bare / duration_s, 3),
                "runner RTF (b)": round(offload / duration_s, 3),
                "b/a": round(offload / bare, 3),
            },
            method="(a) FasterWhisperEngine.transcribe on the uploaded file, model loaded and warm; (b) the job's startedAt → "
            f"finishedAt on the instance, `offload runner server` warmed by one job; {repeats} a/b pair(s) run "
            "back to back (a shared machine's load hits both alike), medians; target b/a ≤ 1.10",
            extra={"pairs_s": pairs},
        )
    ]


def _speech_clip(espeak: str, path: Path, text: str) -> Path:
    wav = path.with_suffix(".wav")
    subprocess.run([espeak, "-w", str(wav), text], check=True, capture_output=True, timeout=120)
    subprocess.run(
        [
            get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y",
            "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-i", str(wav),
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-shortest", str(path),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )  # fmt: skip
    return path


def _paired(clip: Path, root: Path, repeats: int) -> tuple[float, list[tuple[float, float]], float]:
    """Model load time, then (engine s, runner job s) pairs, and the clip's duration."""
    from offload.media.probe import probe

    engine = FasterWhisperEngine(TranscriptionOptions(model="tiny.en", threads=2))
    started = time.perf_counter()
    engine._model()  # noqa: SLF001  the load is what is measured here
    load_s = time.perf_counter() - started
    duration_s = probe(clip).duration_s or 1.0

    def direct(index: int) -> float:
        workdir = root / f"direct-{index}"
        workdir.mkdir()
        started = time.perf_counter()
        asyncio.run(engine.transcribe(clip, workdir, duration_s, lambda _: None))
        return round(time.perf_counter() - started, 3)

    data_dir = root / "instance"
    data_dir.mkdir()
    pairs = []
    with (
        serve_subprocess(data_dir) as (url, _proc, admin),
        httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {admin}"}) as api,
    ):
        api.put(
            "/api/v1/config/custom",
            json={
                "transcoding": {"enabled": False},
                "storyboards": {"enabled": False},
                "videoTranscription": {"enabled": True, "remoteRunners": {"enabled": True}},
            },
        ).raise_for_status()
        with runner_subprocess(url, api, root / "runner", {"model": "tiny.en"}):
            # Round 0 warms both up (model load, first-call allocations); it is not counted.
            for index in range(repeats + 1):
                bare = direct(index)
                with clip.open("rb") as handle:
                    api.post(
                        "/api/v1/videos/upload",
                        data={"name": f"speech {index}"},
                        files={"videofile": (clip.name, handle, "video/mp4")},
                    ).raise_for_status()
                job = wait_until(
                    lambda index=index: _nth_done(api, index),
                    timeout_s=600,
                    interval_s=0.5,
                    message="transcription job",
                )
                if job["state"]["id"] != int(JobState.COMPLETED):
                    raise RuntimeError(f"transcription failed: {job.get('error')}")
                if index:
                    pairs.append((bare, round(_elapsed_s(job["startedAt"], job["finishedAt"]), 3)))
    return load_s, pairs, duration_s


def _nth_done(api: httpx.Client, index: int) -> dict[str, Any] | None:
    listed = api.get("/api/v1/runners/jobs", params={"count": 100, "sort": "createdAt"}).json()
    jobs = [j for j in listed["data"] if j["type"] == "video-transcription"]
    if len(jobs) <= index or jobs[index]["state"]["id"] not in _DONE:
        return None
    return dict(jobs[index])


def _elapsed_s(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
