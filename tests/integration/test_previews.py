"""Previews at PeerTube's size, audio merges as PeerTube's runner makes them,
and refused outputs said in the log. Real instances on both databases, real ffmpeg."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from imageio_ffmpeg import get_ffmpeg_exe

from offload.media.probe import probe
from tests.clips import HttpRunner, MediaClips, make, set_config, upload
from tests.support import RunningInstance, wait_until

#: PeerTube's PREVIEWS_SIZE (server/initializers/constants).
PREVIEW = (850, 480)

#: An audio ladder of two jobs: the merge (480p) and its HLS copy.
SHORT_AUDIO_LADDER = {
    "transcoding": {
        "resolutions": {r: False for r in ("144p", "240p", "360p", "720p", "1080p", "1440p")}
    }
}


def video_of(instance: RunningInstance, video_uuid: str) -> dict[str, Any]:
    with instance.client() as c:
        r = c.get(f"/api/v1/videos/{video_uuid}")
    assert 200 == r.status_code, r.text
    return dict(r.json())


def picture_size(instance: RunningInstance, path: str | None, tmp_path: Path) -> tuple[int, int]:
    """Fetch a picture the video JSON points at; its width and height."""
    assert path is not None
    r = httpx.get(instance.url + path, timeout=30.0)
    assert 200 == r.status_code, r.text
    target = tmp_path / path.rsplit("/", 1)[1]
    target.write_bytes(r.content)
    info = probe(target)
    assert info.video is not None
    return info.video.width, info.video.height


def preview_size(instance: RunningInstance, video_uuid: str, tmp_path: Path) -> tuple[int, int]:
    return picture_size(instance, video_of(instance, video_uuid)["previewPath"], tmp_path)


def uploaded(instance: RunningInstance, path: Path, preview: Path | None = None) -> str:
    r = upload(instance, path, preview=preview)
    assert 200 == r.status_code, r.text
    return str(r.json()["video"]["uuid"])


def attempts_of(instance: RunningInstance, job_uuid: str) -> list[dict[str, Any]]:
    with instance.admin() as c:
        return list(c.get(f"/api/v1/runners/jobs/{job_uuid}").json()["attempts"])


def peertube_audio_merge(runner: HttpRunner, job: dict[str, Any], workdir: Path) -> Path:
    """The merge as PeerTube's runner makes it (runner.md §3.3): the picture keeps its own
    size, and `-shortest` lets the looped picture run past the audio."""
    workdir.mkdir(parents=True, exist_ok=True)
    inputs = {}
    for name in ("previewFileUrl", "audioFileUrl"):
        r = runner.download(job["payload"]["input"][name], job)
        assert 200 == r.status_code, r.text
        inputs[name] = workdir / name
        inputs[name].write_bytes(r.content)
    picture = probe(inputs["previewFileUrl"]).video
    assert picture is not None
    output = workdir / "output.mp4"
    fps = job["payload"]["output"]["fps"]
    # The runner's argv, its scale to the picture's own height (what it ends up producing).
    argv = [
        get_ffmpeg_exe(),
        "-nostdin",
        "-v",
        "error",
        "-loop",
        "1",
        "-i",
        str(inputs["previewFileUrl"]),
        "-i",
        str(inputs["audioFileUrl"]),
        "-y",
        "-acodec",
        "aac",
        "-vcodec",
        "libx264",
        "-threads",
        "1",
        "-f",
        "mp4",
        "-movflags",
        "faststart",
        "-max_muxing_queue_size",
        "1024",
        "-map_metadata",
        "-1",
        "-pix_fmt",
        "yuv420p",
        "-vf",
        f"scale=w=-2:h={picture.height},fps=fps={fps}",
        "-preset",
        "veryfast",
        "-maxrate:v",
        "192k",
        "-bufsize:v",
        "384k",
        "-b_strategy",
        "1",
        "-bf",
        "16",
        "-g:v",
        str(2 * fps),
        "-tune",
        "stillimage",
        "-shortest",
        str(output),
    ]
    subprocess.run(argv, check=True, capture_output=True, timeout=120)
    return output


class TestRefusedOutputs:
    def test_refused_output_is_logged_with_job_runner_and_reason(
        self,
        instance: RunningInstance,
        media_clips: MediaClips,
        tmp_path: Path,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A refused output is a WARNING naming the job, its type, the runner and the reason."""
        caplog.set_level(logging.WARNING, logger="offload.instance.jobs")
        uploaded(instance, media_clips.small)
        runner = HttpRunner.register(instance, name="logged-runner")
        job = runner.accept(runner.request()[0]["uuid"])

        runner.success(job, {"videoFile": make(tmp_path / "small.mp4", size="160x120")})
        wait_until(lambda: attempts_of(instance, job["uuid"]), message="the refused attempt")

        refusals = [
            r.getMessage()
            for r in caplog.records
            if r.levelno == logging.WARNING and job["uuid"] in r.getMessage()
        ]
        assert 1 == len(refusals), refusals
        for part in ("vod-web-video-transcoding", "logged-runner", "160x120"):
            assert part in refusals[0]


class TestPictures:
    def test_uploaded_preview_is_resized_to_peertube_preview_size(
        self, instance: RunningInstance, media_clips: MediaClips, tmp_path: Path
    ) -> None:
        """A 640x360 preview is kept at PeerTube's 850x480."""
        video_uuid = uploaded(instance, media_clips.audio, preview=media_clips.preview)

        assert PREVIEW == preview_size(instance, video_uuid, tmp_path)

    def test_audio_upload_without_preview_gets_the_default_picture(
        self, instance: RunningInstance, media_clips: MediaClips, tmp_path: Path
    ) -> None:
        """An audio upload with no preview gets the default picture at PeerTube's size."""
        video_uuid = uploaded(instance, media_clips.audio)

        assert PREVIEW == preview_size(instance, video_uuid, tmp_path)

    def test_video_upload_without_preview_gets_one_from_the_video(
        self, instance: RunningInstance, media_clips: MediaClips, tmp_path: Path
    ) -> None:
        """A video uploaded without a preview gets one from its frames, served to runners too."""
        video_uuid = uploaded(instance, media_clips.small)
        runner = HttpRunner.register(instance)
        job = runner.accept(runner.request()[0]["uuid"])

        r = runner.download(
            f"{instance.url}/api/v1/runners/jobs/{job['uuid']}/files/videos/{video_uuid}/previews/max-quality",
            job,
        )

        assert 200 == r.status_code, r.text
        assert PREVIEW == preview_size(instance, video_uuid, tmp_path)


@pytest.mark.slow
class TestAudioMerge:
    def test_merge_made_as_peertube_runner_does_is_published(
        self, instance: RunningInstance, media_clips: MediaClips, tmp_path: Path
    ) -> None:
        """PeerTube's runner (picture unscaled, `-shortest` overshooting) gets the video published."""
        set_config(instance, SHORT_AUDIO_LADDER)
        video_uuid = uploaded(instance, make(tmp_path / "two-seconds.ogg", size=None, duration_s=2))
        runner = HttpRunner.register(instance)

        done = []
        for _ in range(5):
            offered = runner.request()
            if not offered:
                break
            job = runner.accept(offered[0]["uuid"])
            workdir = tmp_path / job["uuid"]
            if job["type"] == "vod-audio-merge-transcoding":
                files = {"videoFile": peertube_audio_merge(runner, job, workdir)}
            else:
                files = runner.process(job, workdir)
            assert 204 == runner.success(job, files).status_code
            assert [] == [a["message"] for a in attempts_of(instance, job["uuid"]) if a["message"]]
            done.append(job["type"])

        assert ["vod-audio-merge-transcoding", "vod-hls-transcoding"] == done
        assert {"id": 1, "label": "Published"} == video_of(instance, video_uuid)["state"]

    def test_merge_made_by_our_runner_is_published(
        self, instance: RunningInstance, media_clips: MediaClips, tmp_path: Path
    ) -> None:
        """Offload's own runner code merges an audio upload without a preview; the video is published."""
        set_config(instance, SHORT_AUDIO_LADDER)
        video_uuid = uploaded(instance, media_clips.audio)
        runner = HttpRunner.register(instance)

        done = runner.run_all(tmp_path / "work")

        assert ["vod-audio-merge-transcoding:480", "vod-hls-transcoding:480"] == done
        video = video_of(instance, video_uuid)
        assert {"id": 1, "label": "Published"} == video["state"]
        assert [(480, True, True)] == [
            (f["resolution"]["id"], f["hasVideo"], f["hasAudio"]) for f in video["files"]
        ]

    def test_merge_with_a_picture_larger_than_asked_is_refused(
        self, instance: RunningInstance, media_clips: MediaClips, tmp_path: Path
    ) -> None:
        """A 720p picture for a 480p merge is refused: smaller is PeerTube's way, larger is not."""
        uploaded(instance, media_clips.audio)
        runner = HttpRunner.register(instance)
        job = runner.accept(runner.request()[0]["uuid"])

        runner.success(job, {"videoFile": make(tmp_path / "big.mp4", size="1280x720")})
        attempts = attempts_of(instance, job["uuid"])

        assert "refused" == attempts[0]["outcome"]
        assert "1280x720" in attempts[0]["message"]
