"""Job input files R9–R11 (§11 items 74, 76–78): who may read them, and what they return."""

from __future__ import annotations

import io
import uuid
from typing import Any

import av
import pytest

from tests.clips import HttpRunner, MediaClips, jobs_of, upload
from tests.support import RunningInstance


def take_first_job(instance: RunningInstance, runner: HttpRunner) -> dict[str, Any]:
    return runner.accept(runner.request()[0]["uuid"])


class TestAccess:
    @pytest.mark.parametrize(
        "kind",
        ["max-quality", "max-quality/audio", "previews/max-quality", "thumbnails/max-quality"],
    )
    def test_video_id_checks(
        self, instance: RunningInstance, media_clips: MediaClips, kind: str
    ) -> None:
        """Video id `a` → 400, unknown → 404, another video → 403, the job's video → 200 (§11.74)."""
        own = upload(instance, media_clips.audio, preview=media_clips.preview).json()["video"]
        other = upload(instance, media_clips.small, name="another video").json()["video"]
        runner = HttpRunner.register(instance)
        job = runner.accept(
            next(j["uuid"] for j in runner.request() if j["type"] == "vod-audio-merge-transcoding")
        )
        base = f"{instance.url}/api/v1/runners/jobs/{job['uuid']}/files/videos"

        statuses = [
            runner.download(f"{base}/{ident}/{kind}", job).status_code
            for ident in (
                "a",
                str(uuid.uuid4()),
                other["uuid"],
                own["uuid"],
                own["shortUUID"],
                str(own["id"]),
            )
        ]

        assert [400, 404, 403, 200, 200, 200] == statuses

    def test_job_of_runner_checks(self, instance: RunningInstance, media_clips: MediaClips) -> None:
        """Bad job uuid → 400; wrong job token, another runner, a job not processing → 404/400 (§11.53)."""
        video = upload(instance, media_clips.small).json()["video"]
        runner = HttpRunner.register(instance)
        intruder = HttpRunner.register(instance, name="intruder")
        job = take_first_job(instance, runner)
        url = job["payload"]["input"]["videoFileUrl"]
        waiting = jobs_of(instance)[1]

        with instance.client() as c:
            bad_uuid = c.post(
                f"/api/v1/runners/jobs/a/files/videos/{video['uuid']}/max-quality",
                json={"runnerToken": runner.token, "jobToken": job["jobToken"]},
            )
            empty_token = c.post(url, json={"runnerToken": runner.token, "jobToken": ""})
            wrong_token = c.post(url, json={"runnerToken": runner.token, "jobToken": "ptrjt-nope"})
            other_runner = c.post(
                url, json={"runnerToken": intruder.token, "jobToken": job["jobToken"]}
            )
            other_job = c.post(
                url.replace(job["uuid"], waiting["uuid"]),
                json={"runnerToken": runner.token, "jobToken": job["jobToken"]},
            )

        assert [400, 400, 404, 404, 404] == [
            r.status_code for r in (bad_uuid, empty_token, wrong_token, other_runner, other_job)
        ]

    def test_no_redirect_and_range(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """The file comes straight in the answer, and a Range request gets those bytes only."""
        upload(instance, media_clips.small)
        runner = HttpRunner.register(instance)
        job = take_first_job(instance, runner)
        url = job["payload"]["input"]["videoFileUrl"]

        whole = runner.download(url, job)
        part = runner.download(url, job, Range="bytes=100-199")

        assert (200, "video/mp4") == (whole.status_code, whole.headers["content-type"])
        assert (206, whole.content[100:200]) == (part.status_code, part.content)


class TestContent:
    def test_optimize_job_reads_the_uploaded_bytes(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """The optimize job's input is exactly the uploaded file (§11.76)."""
        upload(instance, media_clips.small)
        runner = HttpRunner.register(instance)
        job = take_first_job(instance, runner)

        assert (
            media_clips.small.read_bytes()
            == runner.download(job["payload"]["input"]["videoFileUrl"], job).content
        )

    def test_later_jobs_read_the_current_best_file(
        self, instance: RunningInstance, media_clips: MediaClips, tmp_path: Any
    ) -> None:
        """After the optimize job, the next job reads the optimize output, not the upload (§11.77)."""
        from tests.clips import make

        upload(instance, media_clips.small)
        runner = HttpRunner.register(instance)
        optimize = take_first_job(instance, runner)
        output = make(
            tmp_path / "optimized.mp4", size="320x240", extra=["-metadata", "title=optimized"]
        )
        assert 204 == runner.success(optimize, {"videoFile": output}).status_code

        hls = runner.accept(
            next(j["uuid"] for j in runner.request() if j["type"] == "vod-hls-transcoding")
        )

        assert (
            output.read_bytes()
            == runner.download(hls["payload"]["input"]["videoFileUrl"], hls).content
        )

    def test_audio_merge_reads_the_audio_and_the_preview(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """`audioFileUrl` gives the uploaded Ogg, `previewFileUrl` the uploaded picture at
        PeerTube's preview size, 850x480 (§11.78)."""
        upload(instance, media_clips.audio, preview=media_clips.preview)
        runner = HttpRunner.register(instance)
        job = take_first_job(instance, runner)

        audio = runner.download(job["payload"]["input"]["audioFileUrl"], job)
        preview = runner.download(job["payload"]["input"]["previewFileUrl"], job)

        assert (media_clips.audio.read_bytes(), "audio/ogg") == (
            audio.content,
            audio.headers["content-type"],
        )
        # A JPEG: the uploaded picture, not the default one (a PNG, see below).
        assert "image/jpeg" == preview.headers["content-type"]
        with av.open(io.BytesIO(preview.content)) as picture:
            frame = next(picture.decode(video=0))
        assert (850, 480) == (frame.width, frame.height)

    def test_audio_upload_without_preview_gets_one(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """An audio upload without a picture gets a default PNG preview for the merge."""
        upload(instance, media_clips.audio)
        runner = HttpRunner.register(instance)
        job = take_first_job(instance, runner)

        preview = runner.download(job["payload"]["input"]["previewFileUrl"], job)

        assert (200, "image/png", b"\x89PNG") == (
            preview.status_code,
            preview.headers["content-type"],
            preview.content[:4],
        )
