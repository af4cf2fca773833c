"""Media pipeline test kit: tiny real clips made once per session by real ffmpeg, and a runner
played over plain HTTP.

The machine is small and shared: 1 s clips, ultrafast x264, the 720p clip only where the ladder
count needs it. `make` also makes deliberately wrong outputs for a misbehaving runner.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from imageio_ffmpeg import get_ffmpeg_exe

from offload.media.ffmpeg import FfmpegOptions
from offload.media.processors import process_job
from tests.support import RunningInstance

__all__ = [
    "HttpRunner",
    "MediaClips",
    "jobs_of",
    "make",
    "media_clips",
    "set_config",
    "upload",
    "upload_video",
]


def make(
    path: Path,
    *,
    size: str | None = "320x240",
    audio: bool = True,
    duration_s: float = 1.0,
    fps: int = 25,
    extra: list[str] | None = None,
) -> Path:
    """Write a clip (testsrc picture, sine tone) to `path`; `size=None` makes audio only."""
    args = [get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y"]
    if size is not None:
        args += ["-f", "lavfi", "-i", f"testsrc=size={size}:rate={fps}:duration={duration_s}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={duration_s}"]
    if size is not None:
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        args += ["-c:a", "libvorbis" if path.suffix == ".ogg" else "aac"]
    args += [*(extra or []), "-t", str(duration_s), str(path)]
    subprocess.run(args, check=True, capture_output=True, timeout=120)
    return path


@dataclass(frozen=True)
class MediaClips:
    """Lazily generated clips in one session directory."""

    directory: Path

    @property
    def small(self) -> Path:
        """1 s, 320x240 (240p) H.264 + AAC: a 4-job ladder, the cheap default."""
        return self._get("small.mp4")

    @property
    def hd(self) -> Path:
        """1 s, 1280x720 H.264 + AAC: the 10-job ladder."""
        return self._get("hd.mp4", size="1280x720")

    @property
    def portrait(self) -> Path:
        """1 s, 240x426 portrait H.264 + AAC (240p)."""
        return self._get("portrait.mp4", size="240x426")

    @property
    def no_audio(self) -> Path:
        """1 s, 320x240 H.264 without audio."""
        return self._get("no_audio.mp4", audio=False)

    @property
    def audio(self) -> Path:
        """1 s Vorbis tone in an Ogg file."""
        return self._get("audio.ogg", size=None)

    @property
    def preview(self) -> Path:
        """A 640x360 JPEG picture (the audio upload's preview)."""
        path = self.directory / "preview.jpg"
        if not path.exists():
            subprocess.run(
                [
                    get_ffmpeg_exe(),
                    "-nostdin",
                    "-v",
                    "error",
                    "-y",
                    "-f",
                    "lavfi",
                    "-i",
                    "testsrc=size=640x360:rate=1:duration=1",
                    "-frames:v",
                    "1",
                    str(path),
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
        return path

    @property
    def truncated(self) -> Path:
        """The first half of an MP4 whose index is at the end: unreadable."""
        path = self.directory / "truncated.mp4"
        if not path.exists():
            data = self.small.read_bytes()
            path.write_bytes(data[: len(data) // 2])
        return path

    @property
    def text(self) -> Path:
        """A text file named like a video."""
        path = self.directory / "notes.mp4"
        if not path.exists():
            path.write_text("these are not the frames you are looking for\n" * 50)
        return path

    def _get(self, name: str, **options: object) -> Path:
        path = self.directory / name
        if not path.exists():
            make(path, **options)  # type: ignore[arg-type]
        return path


@pytest.fixture(scope="session")
def media_clips(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaClips]:
    """Session-wide clips, generated on first use."""
    yield MediaClips(tmp_path_factory.mktemp("media-clips"))


# ---- playing the runner over plain HTTP ---------------------------------------------------------


@dataclass
class HttpRunner:
    """A registered runner driven by the test: request, accept, download, process, report.

    Outputs come from the same processor code the real runner uses, run on the job's own
    downloads; tests swap in their own files to play a misbehaving runner.
    """

    instance: RunningInstance
    token: str

    @classmethod
    def register(cls, instance: RunningInstance, name: str = "test-runner") -> HttpRunner:
        with instance.admin() as c:
            registration = c.get("/api/v1/runners/registration-tokens").json()["data"][0][
                "registrationToken"
            ]
        with instance.client() as c:
            r = c.post(
                "/api/v1/runners/register", json={"registrationToken": registration, "name": name}
            )
        assert 200 == r.status_code, r.text
        return cls(instance, r.json()["runnerToken"])

    def request(self) -> list[dict[str, Any]]:
        with self.instance.client() as c:
            r = c.post("/api/v1/runners/jobs/request", json={"runnerToken": self.token})
        assert 200 == r.status_code, r.text
        return list(r.json()["availableJobs"])

    def accept(self, job_uuid: str) -> dict[str, Any]:
        with self.instance.client() as c:
            r = c.post(f"/api/v1/runners/jobs/{job_uuid}/accept", json={"runnerToken": self.token})
        assert 200 == r.status_code, r.text
        return dict(r.json()["job"])

    def download(self, url: str, job: dict[str, Any], **headers: str) -> httpx.Response:
        with httpx.Client(timeout=30.0) as c:
            return c.post(
                url, json={"runnerToken": self.token, "jobToken": job["jobToken"]}, headers=headers
            )

    def process(self, job: dict[str, Any], workdir: Path) -> dict[str, Path | str]:
        """Run the job like the real runner would: download inputs, run ffmpeg (or Whisper),
        return the success payload (files, and text fields for the types that post some)."""

        async def fetch(url: str) -> Path:
            r = self.download(url, job)
            assert 200 == r.status_code, r.text
            target = workdir / f"input-{len(list(workdir.glob('input-*')))}"
            target.write_bytes(r.content)
            return target

        workdir.mkdir(parents=True, exist_ok=True)
        options = FfmpegOptions(path=get_ffmpeg_exe(), threads=1, nice=0)
        output = asyncio.run(
            process_job(
                job["type"],
                job["payload"],
                workdir=workdir,
                fetch=fetch,
                on_progress=lambda _: None,
                ffmpeg=options,
            )
        )
        return dict(output)

    def success(self, job: dict[str, Any], output: Mapping[str, Path | str]) -> httpx.Response:
        """Post a success: Path values as file parts, str values as text fields."""
        parts = {
            f"payload[{name}]": (value.name, value.read_bytes())
            for name, value in output.items()
            if isinstance(value, Path)
        }
        fields = {f"payload[{k}]": v for k, v in output.items() if isinstance(v, str)}
        with self.instance.client() as c:
            return c.post(
                f"/api/v1/runners/jobs/{job['uuid']}/success",
                data={"runnerToken": self.token, "jobToken": job["jobToken"], **fields},
                files=parts,
            )

    def run_all(self, workdir: Path, max_jobs: int = 30) -> list[str]:
        """Take and complete jobs until none is offered; returns the job types done, in order."""
        done: list[str] = []
        for _ in range(max_jobs):
            offered = self.request()
            if not offered:
                return done
            job = self.accept(offered[0]["uuid"])
            files = self.process(job, workdir / job["uuid"])
            r = self.success(job, files)
            assert 204 == r.status_code, r.text
            resolution = (job["payload"].get("output") or {}).get("resolution")
            done.append(job["type"] if resolution is None else f"{job['type']}:{resolution}")
        raise AssertionError(f"more than {max_jobs} jobs offered")


def upload(
    instance: RunningInstance, path: Path, name: str = "test video", preview: Path | None = None
) -> httpx.Response:
    """PeerTube's multipart upload as an admin."""
    files = {"videofile": (path.name, path.read_bytes())}
    if preview is not None:
        files["previewfile"] = (preview.name, preview.read_bytes())
    with instance.admin() as c:
        return c.post("/api/v1/videos/upload", data={"name": name}, files=files)


def upload_video(instance: RunningInstance, path: Path) -> str:
    """Upload `path` as an admin, named after the file; the new video's UUID."""
    r = upload(instance, path, name=path.stem if len(path.stem) >= 3 else f"{path.stem} video")
    assert 200 == r.status_code, r.text
    return str(r.json()["video"]["uuid"])


def jobs_of(instance: RunningInstance) -> list[dict[str, Any]]:
    """Every runner job, oldest first, as the admin list shows them."""
    with instance.admin() as c:
        r = c.get("/api/v1/runners/jobs", params={"count": 100, "sort": "createdAt"})
    assert 200 == r.status_code, r.text
    return list(r.json()["data"])


def set_config(instance: RunningInstance, body: dict[str, Any]) -> dict[str, Any]:
    with instance.admin() as c:
        r = c.put("/api/v1/config/custom", json=body)
    assert 200 == r.status_code, r.text
    return dict(r.json())
